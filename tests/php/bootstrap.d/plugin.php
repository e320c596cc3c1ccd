<?php
// Plain-PHP autoloading of the plugin's classes/ (Moodle's own autoloader does this inside Moodle).
spl_autoload_register(function (string $class): void {
    $prefix = 'local_crmsync\\';
    if (strpos($class, $prefix) !== 0) {
        return;
    }
    $file = CRMSYNC_REPO . '/moodle_plugin/classes/' . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
    if (is_file($file)) {
        require_once($file);
    }
});
