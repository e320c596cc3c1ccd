<?php
// The few SuiteCRM 7.14.6 functions the package's install scripts call, as SuiteCRM defines them
// (include/utils/file_utils.php, include/utils/array_utils.php, include/dir_inc.php), without its
// permission settings.
if (!function_exists('write_array_to_file')) {
    function write_array_to_file($the_name, $the_array, $the_file, $mode = "w", $header = '') {
        if (!empty($header) && ($mode !== 'a' || $mode !== 'ab' || !file_exists($the_file))) {
            $the_string = $header;
        } else {
            $the_string = "<?php\n" . '// created: ' . date('Y-m-d H:i:s') . "\n";
        }
        $the_string .= "\$$the_name = " . var_export($the_array, true) . ";";
        return file_put_contents($the_file, $the_string, LOCK_EX) !== false;
    }
    function mkdir_recursive($path) {
        return is_dir($path) || mkdir($path, 0775, true);
    }
    function rmdir_recursive($path) {
        return is_file($path) ? unlink($path) : rmdir($path);
    }
}
if (!function_exists('remove_logic_hook')) {
    // include/utils.php, which rewrites custom/modules/<module>/logic_hooks.php: here the calls are kept.
    function remove_logic_hook($module_name, $event, $action_array) {
        $GLOBALS['removed_logic_hooks'][] = [$module_name, $event, $action_array];
    }
}
if (!function_exists('create_guid')) {
    // include/utils.php
    function create_guid() {
        $microTime = microtime();
        list($a_dec, $a_sec) = explode(' ', $microTime);
        $dec_hex = str_pad(substr(dechex((int) ($a_dec * 1000000)), 0, 5), 5, '0');
        $sec_hex = str_pad(substr(dechex((int) $a_sec), 0, 6), 6, '0');
        $section = function ($characters) {
            $return = '';
            for ($i = 0; $i < $characters; ++$i) {
                $return .= dechex(mt_rand(0, 15));
            }
            return $return;
        };
        return $dec_hex . $section(3) . '-' . $section(4) . '-' . $section(4) . '-' . $section(4) . '-' . $sec_hex
            . $section(6);
    }
}
if (!class_exists('EmailAddress')) {
    // Core's Contacts detail layout computes its opt-in e-mail button (SugarEmailAddress, opt-in off).
    class EmailAddress {
        public static function getSendConfirmOptInEmailActionLinkDefs($module) {
            return ['customCode' => '<input type="submit" class="button hidden" disabled="disabled" '
                                    . 'name="send_confirm_opt_in_email" value="{$APP.LBL_SEND_CONFIRM_OPT_IN_EMAIL}"/>'];
        }
    }
}
