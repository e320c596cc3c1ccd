<?php
// Just enough of Moodle's admin tree, strings and URLs for the plugin's settings.php to run outside
// Moodle. Loaded only in tests that run in a process of their own, so nothing here leaks into others.
// Stands in for $CFG->libdir/adminlib.php (classes/admin/setting_secret.php requires it).

defined('MOODLE_INTERNAL') || define('MOODLE_INTERNAL', true);
defined('PARAM_URL') || define('PARAM_URL', 'url');
defined('PARAM_INT') || define('PARAM_INT', 'int');
defined('PARAM_TEXT') || define('PARAM_TEXT', 'text');

/** The plugin's English strings, as Moodle loads them. */
function crmsync_test_strings(): array {
    $string = [];
    include(CRMSYNC_REPO . '/moodle_plugin/lang/en/local_crmsync.php');
    return $string;
}

/** Moodle's get_string for local_crmsync: an unknown identifier is an error, as Moodle's debugging says. */
function get_string(string $identifier, string $component = '', $a = null): string {
    if ($component !== 'local_crmsync') {
        return "[[$identifier, $component]]";
    }
    $strings = crmsync_test_strings();
    if (!isset($strings[$identifier])) {
        throw new RuntimeException("missing lang string local_crmsync/$identifier");
    }
    $text = $strings[$identifier];
    if (is_scalar($a)) {
        $text = str_replace('{$a}', (string) $a, $text);
    }
    return $text;
}

class moodle_url {
    public $path;
    public function __construct($url, array $params = []) {
        $this->path = (string) $url;
    }
    public function out(bool $escaped = true): string {
        return 'https://moodle.example' . $this->path;
    }
}

/**
 * Moodle's admin root as a user sees it: only the categories that user's tree has (Local plugins only
 * with moodle/site:config: admin/settings/plugins.php); what is added under a missing one is lost.
 */
class fake_admin_root {
    public $fulltree = true;
    /** @var array category name => list of what was added under it */
    public $tree = [];
    /** @var array what was added under a category this user's tree does not have */
    public $lost = [];

    public function __construct(bool $hassiteconfig) {
        foreach (['root', 'users', 'courses', 'modules', 'reports', 'development'] as $category) {
            $this->tree[$category] = [];
        }
        if ($hassiteconfig) {
            $this->tree['localplugins'] = [];
        }
    }

    public function add(string $parent, $thing): bool {
        if (!array_key_exists($parent, $this->tree)) {
            $this->lost[] = [$parent, $thing];
            return false;
        }
        $this->tree[$parent][] = $thing;
        if ($thing instanceof admin_category) {
            $this->tree[$thing->name] = [];
        }
        return true;
    }

    /** Every page and settings page reachable in this tree, by name. */
    public function pages(): array {
        $pages = [];
        foreach ($this->tree as $things) {
            foreach ($things as $thing) {
                if (!$thing instanceof admin_category) {
                    $pages[$thing->name] = $thing;
                }
            }
        }
        return $pages;
    }
}

class admin_category {
    public $name;
    public function __construct($name, $visiblename, $hidden = false) {
        $this->name = $name;
    }
}

class admin_externalpage {
    public $name, $visiblename, $url, $req_capability;
    public function __construct($name, $visiblename, $url, $req_capability = 'moodle/site:config', $hidden = false,
            $context = null) {
        $this->name = $name;
        $this->visiblename = $visiblename;
        $this->url = $url;
        $this->req_capability = (array) $req_capability;
    }
}

class admin_settingpage {
    public $name, $visiblename, $req_capability, $settings = [];
    public function __construct($name, $visiblename, $req_capability = 'moodle/site:config', $hidden = false,
            $context = null) {
        $this->name = $name;
        $this->visiblename = $visiblename;
        $this->req_capability = (array) $req_capability;
    }
    public function add($setting): bool {
        $this->settings[$setting->name] = $setting;
        return true;
    }
}

abstract class admin_setting {
    public $name, $visiblename, $description, $defaultsetting, $paramtype;
    public function __construct($name, $visiblename, $description, $defaultsetting, $paramtype = null) {
        $this->name = $name;
        $this->visiblename = $visiblename;
        $this->description = $description;
        $this->defaultsetting = $defaultsetting;
        $this->paramtype = $paramtype;
    }
}

class admin_setting_heading extends admin_setting {
    public function __construct($name, $heading, $information) {
        parent::__construct($name, $heading, $information, '');
    }
}

class admin_setting_configtext extends admin_setting {
}

class admin_setting_configpasswordunmask extends admin_setting_configtext {
    public function __construct($name, $visiblename, $description, $defaultsetting) {
        parent::__construct($name, $visiblename, $description, $defaultsetting, 'raw');
    }
}

class admin_setting_configmulticheckbox extends admin_setting {
    public $choices;
    public function __construct($name, $visiblename, $description, $defaultsetting, $choices) {
        parent::__construct($name, $visiblename, $description, $defaultsetting);
        $this->choices = $choices;
    }
}

class admin_setting_pickroles extends admin_setting {
    /** @var string[] the archetypes whose roles are ticked by default */
    public $types;
    public function __construct($name, $visiblename, $description, $types) {
        parent::__construct($name, $visiblename, $description, null);
        $this->types = $types;
    }
}
