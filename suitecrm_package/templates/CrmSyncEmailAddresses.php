<?php
/**
 * What the Contacts before_save hook (CrmSyncEmailHook.php) does to a Contact's e-mail addresses.
 * Plain PHP, no SuiteCRM needed (tests/php/package/EmailAddressesTest.php).
 *
 * SuiteCRM 7.14 keeps a person's addresses in email_addresses/email_addr_bean_rel; `email1` is the
 * primary one. Person::save() saves them from SugarEmailAddress::$addresses and reads the bean's
 * email1..email10 only when that list is empty (handleLegacySave). A bean loaded for an update (V8
 * PATCH, legacy REST, an import that updates) has the list filled from the database, so a written
 * email1 is dropped. before_save runs after that save, so the hook rebuilds the list this class
 * decides and saves it again.
 *
 * The rule: after the save, the Contact's email1 is what was written.
 * - email1 equal to the address shown as email1 (ignoring case and surrounding blanks): nothing
 *   changes. This is every save that does not write email1, including CRM users' own edits.
 * - another address: it replaces that one as the primary address; the Contact's other addresses
 *   stay, non-primary. An address the Contact already has is promoted, with its flags.
 * - blank: the Contact keeps no address (otherwise SuiteCRM would show another one as email1).
 * - not an address SuiteCRM accepts: nothing changes (SuiteCRM would drop it anyway).
 * Nothing is done when no address is stored: SuiteCRM's own save takes email1 then.
 */
class CrmSyncEmailAddresses
{
    /**
     * @param mixed $email1 the bean's email1 as it is about to be saved; null (not set) changes nothing
     * @param array $addresses SugarEmailAddress::$addresses: rows with email_address, primary_address,
     *     reply_to_address, invalid_email, opt_out and email_address_id
     * @param mixed $optOut the bean's email_opt_out, $invalid its invalid_email: they were loaded from
     *     the address shown as email1, so a value that differs from that address's flag was written
     * @param string|null $regex SugarEmailAddress::$regex
     * @param callable|null $known function (string $address): ?array, the flags (opt_out, invalid_email)
     *     SuiteCRM already holds for an address (it may belong to another record), or null
     * @return array|null the rows to save, primary first; null when the stored addresses stand
     */
    public static function replacement($email1, array $addresses, $optOut = '0', $invalid = '0', $regex = null,
                                       $known = null)
    {
        if ($email1 === null || empty($addresses)) {
            return null;
        }
        $wanted = trim(html_entity_decode((string) $email1, ENT_QUOTES, 'UTF-8'));
        $shown = self::shownIndex($addresses);
        $current = $addresses[$shown];
        if (self::same($wanted, $current['email_address'])) {
            return null;
        }
        if ($wanted === '') {
            return array();
        }
        if ($regex !== null && !preg_match($regex, $wanted)) {
            return null;
        }
        $others = array();
        $promoted = null;
        foreach ($addresses as $index => $address) {
            if ($index === $shown) {
                continue;
            }
            if ($promoted === null && self::same($wanted, $address['email_address'])) {
                $promoted = $address;
                continue;
            }
            $others[] = self::row($address, '0');
        }
        if ($promoted !== null) {
            $primary = self::row($promoted, '1');
        } else {
            $flags = $known !== null ? call_user_func($known, $wanted) : null;
            $primary = array(
                'email_address' => $wanted,
                'primary_address' => '1',
                'reply_to_address' => '0',
                // A person's opt-out follows them to the new address, and an opt-out SuiteCRM already
                // holds for that address is never cleared, unless this write set email_opt_out itself.
                'opt_out' => self::flag($optOut) !== self::flag($current['opt_out'] ?? '0')
                    ? self::flag($optOut)
                    : ((self::flag($current['opt_out'] ?? '0') === '1' || self::flag($flags['opt_out'] ?? '0') === '1')
                        ? '1' : '0'),
                // The old address's bounces say nothing of the new one.
                'invalid_email' => self::flag($invalid) !== self::flag($current['invalid_email'] ?? '0')
                    ? self::flag($invalid) : self::flag($flags['invalid_email'] ?? '0'),
                'email_address_id' => null,
            );
        }
        return array_merge(array($primary), $others);
    }

    /** The row SuiteCRM shows as email1: the primary one, else the first (SugarEmailAddress::populateLegacyFields). */
    private static function shownIndex(array $addresses)
    {
        foreach ($addresses as $index => $address) {
            if ((string) ($address['primary_address'] ?? '0') === '1') {
                return $index;
            }
        }
        reset($addresses);
        return key($addresses);
    }

    private static function same($left, $right)
    {
        // SuiteCRM matches addresses by email_address_caps = strtoupper(address).
        return strtoupper($left) === strtoupper(trim(html_entity_decode((string) $right, ENT_QUOTES, 'UTF-8')));
    }

    private static function flag($value)
    {
        return ($value === true || (string) $value === '1') ? '1' : '0';
    }

    private static function row(array $address, $primary)
    {
        return array(
            'email_address' => $address['email_address'],
            'primary_address' => $primary,
            'reply_to_address' => self::flag($address['reply_to_address'] ?? '0'),
            'opt_out' => self::flag($address['opt_out'] ?? '0'),
            'invalid_email' => self::flag($address['invalid_email'] ?? '0'),
            'email_address_id' => $address['email_address_id'] ?? null,
        );
    }
}
