//! Tests of the flag grammars and of Dokku's splitting.

use super::*;

fn ok(flag: Flag, v: &str) {
    assert_eq!(flag.check(Some(v)), Ok(()), "{} {v}", flag.name());
}
fn bad(flag: Flag, v: &str) {
    assert!(
        flag.check(Some(v)).is_err(),
        "{} {v} should be refused",
        flag.name()
    );
}

#[test]
fn publish_takes_strict_port_mappings_only() {
    for ok in [
        "1883:1883",
        "127.0.0.1:8080:80",
        "[::1]:8080:80/tcp",
        "5353:53/udp",
        "0.0.0.0:25:25",
    ] {
        assert_eq!(Flag::Publish.check(Some(ok)), Ok(()), "{ok}");
    }
    for bad in [
        "1883",
        "80",
        ":80",
        "8000-8010:80",
        "a:1:2",
        "1.2.3.4.5:1:2",
        "1:2/sctp",
        "0:80",
        "65536:80",
        "[::1:8080:80",
        "1:2 -v /:/h",
        "01:80",
        "host:1:2",
        "1:2:3:4",
        "1:2/",
    ] {
        assert!(Flag::Publish.check(Some(bad)).is_err(), "{bad}");
    }
    assert_eq!(Flag::parse("--publish"), Some(Flag::Publish));
    let group = ["-p".to_owned(), "127.0.0.1:1883:1883".to_owned()];
    assert_eq!(
        parse_group(&group).map(|o| o.render()),
        Ok("-p 127.0.0.1:1883:1883".to_owned())
    );
    // As the plan check reads a stored option: one group, a strict value.
    assert_eq!(
        dokku_groups("-p 1883:1883 --privileged").map(|g| g.len()),
        Ok(2)
    );
    assert!(parse_group(&["--publish=0.0.0.0:1:2:3".to_owned()]).is_err());
    assert!(parse_group(&["-p".to_owned(), "1883".to_owned()]).is_err());
}

#[test]
fn every_flag_round_trips_its_name() {
    for f in Flag::ALL {
        assert_eq!(Flag::parse(f.name()), Some(f));
    }
}

#[test]
fn values_that_dokku_would_split_are_refused_everywhere() {
    for f in Flag::ALL.into_iter().filter(|f| f.takes_value()) {
        for v in ["--privileged", "-v", "x\ny", "a\tb", "a\u{85}b", "a\rb"] {
            bad(f, v);
        }
    }
}

#[test]
fn stop_signal() {
    for v in ["SIGTERM", "TERM", "sigquit", "15", "SIGRTMIN+3"] {
        ok(Flag::StopSignal, v);
    }
    for v in ["SIGTERM --privileged", "0", "99", "", "SIG", "$(id)"] {
        bad(Flag::StopSignal, v);
    }
}

#[test]
fn dns_and_hosts() {
    ok(Flag::Dns, "1.1.1.1");
    ok(Flag::Dns, "2001:db8::1");
    bad(Flag::Dns, "1.1.1.1 -v /:/host");
    bad(Flag::Dns, "example.com");
    ok(Flag::DnsSearch, "example.com");
    ok(Flag::DnsSearch, ".");
    bad(Flag::DnsSearch, "a b");
    ok(Flag::DnsOption, "ndots:2");
    ok(Flag::DnsOption, "use-vc");
    bad(Flag::DnsOption, "ndots:2 --pid host");
    ok(Flag::AddHost, "db:10.0.0.2");
    ok(Flag::AddHost, "db:::1");
    ok(Flag::AddHost, "host.docker.internal:host-gateway");
    bad(Flag::AddHost, "db:10.0.0.2 --privileged");
    bad(Flag::AddHost, "d b:10.0.0.2");
    bad(Flag::AddHost, "db:nope");
    bad(Flag::AddHost, "db");
}

#[test]
fn tmpfs() {
    ok(Flag::Tmpfs, "/tmp");
    ok(
        Flag::Tmpfs,
        "/run:rw,noexec,nosuid,size=65536k,mode=1777,uid=1000",
    );
    for v in [
        "tmp",
        "/",
        "/tmp -v /:/host",
        "/tmp:dev",
        "/tmp:suid",
        "/a/../b",
        "/tmp:size=1 --privileged",
        "/tmp:bogus",
    ] {
        bad(Flag::Tmpfs, v);
    }
}

#[test]
fn ulimits_numbers_and_cpusets() {
    ok(Flag::Ulimit, "nofile=1024:2048");
    ok(Flag::Ulimit, "core=-1:-1");
    for v in [
        "nofile=1024:2048 --privileged",
        "bogus=1:1",
        "nofile=a:b",
        "nofile",
    ] {
        bad(Flag::Ulimit, v);
    }
    ok(Flag::CpuShares, "512");
    bad(Flag::CpuShares, "512 --privileged");
    bad(Flag::CpuShares, "+5");
    ok(Flag::CpusetCpus, "0-3,5");
    bad(Flag::CpusetCpus, "0-3 --pid host");
    ok(Flag::OomScoreAdj, "-500");
    let neg = DockerOpt::new(Flag::OomScoreAdj, "-500").unwrap();
    assert_eq!(neg.render(), "--oom-score-adj=-500");
    assert_eq!(dokku_groups(&neg.render()).unwrap().len(), 1);
    assert_eq!(
        parse_group(&dokku_groups(&neg.render()).unwrap()[0]).unwrap(),
        neg
    );
    assert_eq!(dokku_argv(&neg.render()).unwrap(), neg.argv());
    bad(Flag::OomScoreAdj, "-5000");
    ok(Flag::MemorySwappiness, "60");
    bad(Flag::MemorySwappiness, "101");
    ok(Flag::ShmSize, "67108864");
    ok(Flag::ShmSize, "64m");
    bad(Flag::ShmSize, "64mm");
}

#[test]
fn users_paths_and_stages() {
    for v in ["1000", "1000:1000", "app", "app:staff", "www-data"] {
        ok(Flag::User, v);
    }
    for v in ["root --privileged", "a:b:c", "", "1a:$x"] {
        bad(Flag::User, v);
    }
    ok(Flag::Workdir, "/srv/app");
    for v in ["srv", "/srv app", "/srv/../etc", "/srv -v /:/host"] {
        bad(Flag::Workdir, v);
    }
    ok(Flag::Target, "builder");
    bad(Flag::Target, "builder --privileged");
    ok(Flag::NetworkAlias, "web_1");
    bad(Flag::NetworkAlias, "web --privileged");
    ok(Flag::GroupAdd, "audio");
    ok(Flag::GroupAdd, "44");
    bad(Flag::GroupAdd, "audio --privileged");
    ok(Flag::Entrypoint, "/docker-entrypoint.sh");
}

#[test]
fn namespaces() {
    ok(Flag::Network, "none");
    ok(Flag::Network, "my-net");
    bad(Flag::Network, "my net");
    ok(Flag::Pid, "host");
    bad(Flag::Pid, "ns:/proc/1/ns/pid");
    ok(Flag::Ipc, "shareable");
    bad(Flag::Ipc, "host --privileged");
    assert_eq!(
        DockerOpt::new(Flag::Network, "host").unwrap().rule(),
        Some(PolicyRule::HostNamespaces)
    );
    assert_eq!(DockerOpt::new(Flag::Network, "none").unwrap().rule(), None);
}

#[test]
fn capabilities_are_normalised_in_any_case() {
    let o = DockerOpt::new(Flag::CapAdd, "cap_sys_admin").unwrap();
    assert_eq!(o.render(), "--cap-add SYS_ADMIN");
    assert_eq!(o.rule(), Some(PolicyRule::CapAdd));
    assert_eq!(
        DockerOpt::new(Flag::CapAdd, "Sys_Ptrace").unwrap().rule(),
        Some(PolicyRule::CapAdd)
    );
    assert_eq!(
        DockerOpt::new(Flag::CapAdd, "all").unwrap().rule(),
        Some(PolicyRule::CapAdd)
    );
    assert_eq!(
        DockerOpt::new(Flag::CapAdd, "net_bind_service")
            .unwrap()
            .rule(),
        None
    );
    assert!(DockerOpt::new(Flag::CapAdd, "SYS_ADMIN --privileged").is_err());
    assert!(DockerOpt::new(Flag::CapAdd, "BOGUS").is_err());
}

#[test]
fn sysctls_namespaced_only() {
    ok(Flag::Sysctl, "net.core.somaxconn=1024");
    ok(Flag::Sysctl, "kernel.shmmax=68719476736");
    ok(Flag::Sysctl, "kernel.sem=250 32000 100 128");
    ok(Flag::Sysctl, "fs.mqueue.msg_max=100");
    let e = Flag::Sysctl
        .check(Some("kernel.core_pattern=|/tmp/x"))
        .unwrap_err();
    assert!(e.to_string().contains("not namespaced"), "{e}");
    bad(Flag::Sysctl, "vm.overcommit_memory=1");
    bad(Flag::Sysctl, "net.core.somaxconn=1 --privileged");
    assert_eq!(
        DockerOpt::new(Flag::Sysctl, "net.core.somaxconn=1")
            .unwrap()
            .rule(),
        None
    );
}

#[test]
fn security_opts_and_devices() {
    assert_eq!(
        DockerOpt::new(Flag::SecurityOpt, "no-new-privileges:true")
            .unwrap()
            .rule(),
        None
    );
    assert_eq!(
        DockerOpt::new(Flag::SecurityOpt, "apparmor:unconfined")
            .unwrap()
            .rule(),
        Some(PolicyRule::SecurityOpt)
    );
    bad(Flag::SecurityOpt, "label=disable --privileged");
    ok(Flag::Device, "/dev/fuse:/dev/fuse:rwm");
    bad(Flag::Device, "/dev/fuse -v /:/host");
    let rule = DockerOpt::new(Flag::DeviceCgroupRule, "c 1:3 mr").unwrap();
    assert_eq!(rule.render(), "--device-cgroup-rule 'c 1:3 mr'");
    assert_eq!(
        dokku_argv(&rule.render()).unwrap(),
        ["--device-cgroup-rule", "c 1:3 mr"]
    );
    bad(Flag::DeviceCgroupRule, "c 1:3 mr --privileged");
}

#[test]
fn build_args_with_spaces_and_quotes_survive_dokku() {
    for v in [
        "GREETING=hello world",
        "Q=it's",
        "S=$(id);`x`|&",
        "E=",
        "U=héllo",
    ] {
        let o = DockerOpt::new(Flag::BuildArg, v).unwrap();
        assert_eq!(
            dokku_argv(&o.render()).unwrap(),
            ["--build-arg", v],
            "{}",
            o.render()
        );
    }
    assert!(DockerOpt::new(Flag::BuildArg, "X=a\nb").is_err());
    assert!(DockerOpt::new(Flag::BuildArg, "1X=a").is_err());
    assert!(DockerOpt::new(Flag::BuildArg, "X").is_err());
}

#[test]
fn dokku_splitting_is_modelled() {
    assert_eq!(
        dokku_groups("--stop-signal SIGTERM --privileged").unwrap(),
        [vec!["--stop-signal", "SIGTERM"], vec!["--privileged"]]
    );
    assert_eq!(
        dokku_argv("--dns '1.1.1.1 -v /:/host'").unwrap(),
        ["--dns", "1.1.1.1 -v /:/host"]
    );
    assert!(shell_words("--dns $(id)").is_err());
    assert!(shell_words("--dns \"x\"").is_err());
    assert!(shell_words("--dns 'x").is_err());
    assert!(shell_words("--dns x;y").is_err());
    assert_eq!(
        xargs_split("a 'b c'\"d\" e\\ f").unwrap(),
        ["a", "b cd", "e f"]
    );
    assert!(parse_group(&["--stop-signal".into(), "SIGTERM".into(), "x".into()]).is_err());
    assert!(parse_group(&["-v".into(), "/:/host".into()]).is_err());
    assert!(parse_group(&["--mount".into(), "type=bind,src=/,dst=/h".into()]).is_err());
    assert_eq!(
        parse_group(&["--shm-size=64m".into()]).unwrap(),
        DockerOpt::new(Flag::ShmSize, "64m").unwrap()
    );
    assert_eq!(
        parse_group(&["--privileged".into()]).unwrap().rule(),
        Some(PolicyRule::Privileged)
    );
}
