<?php
/**
 * Tells the Moodle sync receiver that a CRM user changed a Contact or an enrolment.
 *
 * Plain PHP with no SuiteCRM dependency (tested without a CRM): builds the payload, signs it as
 * Standard Webhooks specify, and POSTs it with a short timeout. Never throws: a CRM save must not
 * fail or slow down because the receiver is away; failures go to the log.
 */
class CrmSyncNotifier
{
    /** @var array receiver_url, secret (whsec_…), api_user_id, timeout */
    private $settings;

    /** @var callable|null function (string $level, string $message): void */
    private $log;

    public function __construct(array $settings, ?callable $log = null)
    {
        $this->settings = $settings + array('timeout' => 2, 'api_user_id' => '');
        $this->log = $log;
    }

    /** True when a receiver URL and a secret are configured: the hook is off until then. */
    public function isConfigured(): bool
    {
        return !empty($this->settings['receiver_url']) && strpos((string) ($this->settings['secret'] ?? ''), 'whsec_') === 0;
    }

    /** Saves made by the sync's own API user are the product's echo, not a CRM user's change. */
    public function isOwnWrite(string $currentUserId): bool
    {
        return $this->settings['api_user_id'] !== '' && $currentUserId === (string) $this->settings['api_user_id'];
    }

    /**
     * @param string $module 'Contacts' or 'mdl_Enrolments'
     * @param object $bean the saved record (fields as properties, fetched_row with the values before the save)
     * @param string $siteUrl the CRM's site_url
     */
    public function payload(string $module, $bean, string $siteUrl, string $id, int $now): array
    {
        $watched = $module === 'Contacts'
            ? array('first_name', 'last_name', 'email1', 'phone_work', 'phone_mobile', 'department',
                    'primary_address_city', 'primary_address_country', 'moodle_user_id_c')
            : array('status', 'moodle_user_id', 'moodle_course_id', 'groups_list', 'time_end');
        $before = is_array($bean->fetched_row ?? null) ? $bean->fetched_row : array();
        $changed = array();
        $values = array();
        foreach ($watched as $field) {
            $value = isset($bean->$field) ? (string) $bean->$field : '';
            $values[$field] = $value;
            if (!array_key_exists($field, $before) || (string) $before[$field] !== $value) {
                $changed[] = $field;
            }
        }
        return array(
            'id' => $id,
            'type' => $module === 'Contacts' ? 'crm.contact.updated' : 'crm.enrolment.updated',
            'occurred_at' => gmdate('Y-m-d\TH:i:s\Z', $now),
            'crm' => array('url' => $siteUrl),
            'record' => array('module' => $module, 'id' => (string) $bean->id),
            'changed' => $changed,
            'data' => $values,
        );
    }

    /** The three Standard Webhooks headers for $body. */
    public function headers(string $id, int $timestamp, string $body): array
    {
        $key = base64_decode(substr($this->settings['secret'], strlen('whsec_')), true);
        $mac = base64_encode(hash_hmac('sha256', $id . '.' . $timestamp . '.' . $body, $key, true));
        return array('webhook-id' => $id, 'webhook-timestamp' => (string) $timestamp, 'webhook-signature' => 'v1,' . $mac);
    }

    /** POST the payload; returns the HTTP status, or 0 when nothing was answered. */
    public function send(array $payload, int $now): int
    {
        $body = json_encode($payload);
        $lines = array('Content-Type: application/json');
        foreach ($this->headers($payload['id'], $now, $body) as $name => $value) {
            $lines[] = $name . ': ' . $value;
        }
        $curl = curl_init($this->settings['receiver_url']);
        curl_setopt_array($curl, array(
            CURLOPT_POST => true, CURLOPT_POSTFIELDS => $body, CURLOPT_HTTPHEADER => $lines,
            CURLOPT_RETURNTRANSFER => true, CURLOPT_CONNECTTIMEOUT => $this->settings['timeout'],
            CURLOPT_TIMEOUT => $this->settings['timeout'], CURLOPT_PROTOCOLS => CURLPROTO_HTTP | CURLPROTO_HTTPS,
        ));
        curl_exec($curl);
        $status = (int) curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
        $error = curl_error($curl);
        curl_close($curl);
        if ($status < 200 || $status >= 300) {
            $this->log('error', "Moodle sync: receiver answered {$status} for {$payload['record']['module']} "
                . "{$payload['record']['id']} {$error}");
        }
        return $status;
    }

    private function log(string $level, string $message): void
    {
        if ($this->log !== null) {
            ($this->log)($level, $message);
        }
    }
}
