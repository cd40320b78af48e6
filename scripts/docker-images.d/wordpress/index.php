<?php
// The stand-in WordPress page: connects to the database named by WORDPRESS_DB_HOST ("host" or
// "host:port"), WORDPRESS_DB_USER, WORDPRESS_DB_PASSWORD and WORDPRESS_DB_NAME, as the official
// image's wp-config.php reads them, and reports whether it answers and whether the php.ini
// overrides of /usr/local/etc/php/conf.d were read.
header('Content-Type: application/json');
mysqli_report(MYSQLI_REPORT_OFF);

function db_check() {
    $host = getenv('WORDPRESS_DB_HOST') ?: 'mysql';
    $port = 3306;
    if (preg_match('/^(.*):(\d+)$/', $host, $m)) {
        $host = $m[1];
        $port = (int) $m[2];
    }
    $db = mysqli_init();
    $db->options(MYSQLI_OPT_CONNECT_TIMEOUT, 3);
    $ok = @$db->real_connect($host, getenv('WORDPRESS_DB_USER') ?: '', getenv('WORDPRESS_DB_PASSWORD') ?: '', getenv('WORDPRESS_DB_NAME') ?: '', $port);
    if (!$ok) {
        return ['ok' => false, 'detail' => mysqli_connect_error()];
    }
    $row = $db->query('SELECT DATABASE(), VERSION()')->fetch_row();
    $db->close();
    return ['ok' => true, 'detail' => $row];
}

$checks = ['db' => db_check()];
echo json_encode([
    'service' => 'wordpress',
    'ok' => $checks['db']['ok'],
    'checks' => $checks,
    'table_prefix' => getenv('WORDPRESS_TABLE_PREFIX'),
    'php_ini' => ['upload_max_filesize' => ini_get('upload_max_filesize'), 'post_max_size' => ini_get('post_max_size')],
]), "\n";
