#!/usr/bin/env python3
"""Regenerate data/commands.tsv from ../shared/dokku-cli.json: command, status, usage (one line each)."""
import json, sys, pathlib
src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "../../shared/dokku-cli.json")
rows = sorted({(c["command"], c["status"], c["usage"].replace("\t", " ").replace("\n", " ")) for c in json.loads(src.read_text())})
out = pathlib.Path(__file__).with_name("commands.tsv")
out.write_text("".join(f"{c}\t{s}\t{u}\n" for c, s, u in rows))
