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
if (!class_exists('EmailAddress')) {
    // Core's Contacts detail layout computes its opt-in e-mail button (SugarEmailAddress, opt-in off).
    class EmailAddress {
        public static function getSendConfirmOptInEmailActionLinkDefs($module) {
            return ['customCode' => '<input type="submit" class="button hidden" disabled="disabled" '
                                    . 'name="send_confirm_opt_in_email" value="{$APP.LBL_SEND_CONFIRM_OPT_IN_EMAIL}"/>'];
        }
    }
}
