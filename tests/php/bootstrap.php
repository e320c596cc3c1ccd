<?php
// Shared bootstrap for the plain PHP tests; each suite adds its own autoloading below.
define('CRMSYNC_REPO', dirname(__DIR__, 2));
define('CRMSYNC_SHARED', dirname(CRMSYNC_REPO) . '/shared');
foreach (glob(__DIR__ . '/bootstrap.d/*.php') as $file) {
    require_once $file;
}
