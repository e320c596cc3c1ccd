<?php
use PHPUnit\Framework\TestCase;

/** The Contacts before_save hook's rule (CrmSyncEmailAddresses) and the hook itself on a stub bean. */
final class EmailAddressesTest extends TestCase {
    /** SugarEmailAddress::$regex of SuiteCRM 7.14.6. */
    public const REGEX = "/^(?:['\\.\\-\\+&#!\\$\\*=\\?\\^_`\\{\\}~\\/\\w]+)@(?:(?:\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3})|\\w+(?:[\\.-]*\\w+)*(?:\\.[\\w-]{2,})+)\$/";

    private static function stored(string $address, string $primary = '1', string $optOut = '0',
                                   string $invalid = '0', ?string $id = null): array {
        // A row as SugarEmailAddress::getAddressesByGUID() loads it.
        return ['email_address' => $address, 'email_address_caps' => strtoupper($address), 'invalid_email' => $invalid,
                'opt_out' => $optOut, 'primary_address' => $primary, 'reply_to_address' => '0',
                'email_address_id' => $id ?? 'id-' . $address, 'deleted' => '0'];
    }

    private static function decide($email1, array $addresses, $optOut = '0', $invalid = '0', ?array $known = null) {
        return CrmSyncEmailAddresses::replacement($email1, $addresses, $optOut, $invalid, self::REGEX,
            function (string $address) use ($known) { return $known[$address] ?? null; });
    }

    public function test_the_stored_primary_address_stands(): void {
        $stored = [self::stored('a@example.invalid')];
        $this->assertNull(self::decide('a@example.invalid', $stored));
        $this->assertNull(self::decide('A@Example.INVALID', $stored), 'a change of case only is no change');
        $this->assertNull(self::decide(' a@example.invalid ', $stored));
        $this->assertNull(self::decide(null, $stored), 'email1 not set');
    }

    public function test_nothing_is_done_without_a_stored_address(): void {
        // SuiteCRM's own save takes email1 then (recorded: patch_email1_no_stored_address).
        $this->assertNull(self::decide('d@example.invalid', []));
        $this->assertNull(self::decide('', []));
    }

    public function test_another_address_replaces_the_primary_one_and_the_others_stay(): void {
        $stored = [self::stored('a@example.invalid'), self::stored('x@example.invalid', '0', '1')];
        $this->assertSame([
            ['email_address' => 'b@example.invalid', 'primary_address' => '1', 'reply_to_address' => '0',
             'opt_out' => '0', 'invalid_email' => '0', 'email_address_id' => null],
            ['email_address' => 'x@example.invalid', 'primary_address' => '0', 'reply_to_address' => '0',
             'opt_out' => '1', 'invalid_email' => '0', 'email_address_id' => 'id-x@example.invalid'],
        ], self::decide('b@example.invalid', $stored));
    }

    public function test_a_blank_email1_leaves_no_address(): void {
        $this->assertSame([], self::decide('', [self::stored('a@example.invalid')]));
        $this->assertSame([], self::decide('  ', [self::stored('a@example.invalid'),
                                                  self::stored('x@example.invalid', '0')]));
    }

    public function test_what_suitecrm_would_not_accept_as_an_address_changes_nothing(): void {
        $this->assertNull(self::decide('not an address', [self::stored('a@example.invalid')]));
    }

    public function test_an_address_the_contact_has_is_promoted_with_its_flags(): void {
        $stored = [self::stored('a@example.invalid'), self::stored('x@example.invalid', '0', '1', '1')];
        $this->assertSame([
            ['email_address' => 'x@example.invalid', 'primary_address' => '1', 'reply_to_address' => '0',
             'opt_out' => '1', 'invalid_email' => '1', 'email_address_id' => 'id-x@example.invalid'],
        ], self::decide('X@example.invalid', $stored, '0', '0'));
    }

    public function test_the_address_shown_as_email1_without_a_primary_one_is_the_first(): void {
        $stored = [self::stored('x@example.invalid', '0'), self::stored('y@example.invalid', '0')];
        $this->assertNull(self::decide('x@example.invalid', $stored));
        $this->assertSame(['b@example.invalid', 'y@example.invalid'],
            array_column(self::decide('b@example.invalid', $stored), 'email_address'));
    }

    public function test_an_opt_out_follows_the_person_and_is_never_cleared_unasked(): void {
        $optedOut = [self::stored('a@example.invalid', '1', '1')];
        // The bean's email_opt_out was loaded from a@…: unchanged, so the new address is opted out too.
        $this->assertSame('1', self::decide('b@example.invalid', $optedOut, '1')[0]['opt_out']);
        // An address SuiteCRM holds as opted out (another record's) stays so.
        $this->assertSame('1', self::decide('b@example.invalid', [self::stored('a@example.invalid')], '0', '0',
            ['b@example.invalid' => ['opt_out' => '1', 'invalid_email' => '0']])[0]['opt_out']);
        // A write that sets email_opt_out itself decides.
        $this->assertSame('0', self::decide('b@example.invalid', $optedOut, '0')[0]['opt_out']);
        $this->assertSame('1', self::decide('b@example.invalid', [self::stored('a@example.invalid')], true)[0]['opt_out']);
    }

    public function test_the_old_address_bounces_do_not_mark_the_new_one_invalid(): void {
        $bounced = [self::stored('a@example.invalid', '1', '0', '1')];
        $this->assertSame('0', self::decide('b@example.invalid', $bounced, '0', '1')[0]['invalid_email']);
        $this->assertSame('1', self::decide('b@example.invalid', $bounced, '0', '1',
            ['b@example.invalid' => ['opt_out' => '0', 'invalid_email' => '1']])[0]['invalid_email']);
        $this->assertSame('1', self::decide('b@example.invalid', [self::stored('a@example.invalid')], '0', '1')[0]['invalid_email']);
    }

    public function test_html_encoded_values_compare_decoded(): void {
        // SugarBean::cleanBean() may have encoded what was written.
        $this->assertNull(self::decide('o&#039;brien@example.invalid', [self::stored("o'brien@example.invalid")]));
        $this->assertSame("o'neil@example.invalid",
            self::decide('o&#039;neil@example.invalid', [self::stored("o'brien@example.invalid")])[0]['email_address']);
    }

    // --- the hook on a stub bean -------------------------------------------------------------------
    private static function bean(string $email1, array $stored): object {
        $emails = new class {
            public $regex = EmailAddressesTest::REGEX;
            public $addresses = [];
            public $saved = [];
            public $fail = false;
            public $db;
            public function addAddress($addr, $primary = false, $replyTo = false, $invalid = false, $optOut = false,
                                       $id = null) {
                $this->addresses[] = ['email_address' => $addr, 'primary_address' => $primary ? '1' : '0',
                                      'reply_to_address' => $replyTo ? '1' : '0', 'invalid_email' => $invalid ? '1' : '0',
                                      'opt_out' => $optOut ? '1' : '0', 'email_address_id' => $id];
            }
            public function saveEmail($id, $module, $new = [], $primary = '', $replyTo = '', $invalid = '', $optOut = '',
                                      $inWorkflow = false) {
                if ($this->fail) {
                    throw new RuntimeException('database gone');
                }
                $this->saved[] = [$id, $module, $inWorkflow, array_column($this->addresses, 'email_address')];
            }
            public function populateLegacyFields($bean) {
                foreach ($this->addresses as $address) {
                    if ($address['primary_address'] === '1') {
                        $bean->email1 = $address['email_address'];
                    }
                }
            }
        };
        $emails->db = new class {
            public function quote($value) { return addslashes($value); }
            public function query($sql) { return $sql; }
            public function fetchByAssoc($result) { return false; }
        };
        $emails->addresses = $stored;
        $bean = new stdClass();
        $bean->id = 'c0ffee00-0000-4000-8000-000000000501';
        $bean->module_dir = 'Contacts';
        $bean->email1 = $email1;
        $bean->email_opt_out = '0';
        $bean->invalid_email = '0';
        $bean->emailAddress = $emails;
        return $bean;
    }

    public function test_hook_saves_the_written_address_as_the_primary_one(): void {
        $bean = self::bean('b@example.invalid', [self::stored('a@example.invalid')]);
        (new CrmSyncEmailHook())->beforeSave($bean, 'before_save', []);
        $this->assertSame([[$bean->id, 'Contacts', false, ['b@example.invalid']]], $bean->emailAddress->saved);
        $this->assertSame('b@example.invalid', $bean->email1);
    }

    public function test_hook_blank_email1_unlinks_every_address(): void {
        $bean = self::bean('', [self::stored('a@example.invalid')]);
        (new CrmSyncEmailHook())->beforeSave($bean, 'before_save', []);
        $this->assertSame([[$bean->id, 'Contacts', false, []]], $bean->emailAddress->saved);
        $this->assertSame('', $bean->email1);
    }

    public function test_hook_leaves_an_unchanged_address_alone(): void {
        $bean = self::bean('A@example.invalid', [self::stored('a@example.invalid')]);
        (new CrmSyncEmailHook())->beforeSave($bean, 'before_save', []);
        $this->assertSame([], $bean->emailAddress->saved);
        $this->assertSame([self::stored('a@example.invalid')], $bean->emailAddress->addresses);
    }

    public function test_hook_leaves_an_edit_view_save_to_suitecrm(): void {
        $bean = self::bean('b@example.invalid', [self::stored('a@example.invalid')]);
        $_REQUEST['Contacts_email_widget_id'] = '0';
        try {
            (new CrmSyncEmailHook())->beforeSave($bean, 'before_save', []);
        } finally {
            unset($_REQUEST['Contacts_email_widget_id']);
        }
        $this->assertSame([], $bean->emailAddress->saved);
    }

    public function test_hook_failure_is_logged_not_thrown(): void {
        $bean = self::bean('b@example.invalid', [self::stored('a@example.invalid')]);
        $bean->emailAddress->fail = true;
        $GLOBALS['log'] = new class {
            public $errors = [];
            public function fatal($message) { $this->errors[] = $message; }
        };
        try {
            (new CrmSyncEmailHook())->beforeSave($bean, 'before_save', []);
            $this->assertSame(['Moodle sync e-mail hook: database gone'], $GLOBALS['log']->errors);
        } finally {
            unset($GLOBALS['log']);
        }
    }
}
