<?php
use local_crmsync\local\backoff;
use local_crmsync\local\delivery;
use local_crmsync\local\status_report;
use local_crmsync\webhook\signer;
use PHPUnit\Framework\TestCase;

require_once(__DIR__ . '/memory_outbox.php');

/**
 * The status page's failures table speaks the site's language: every heading and status is a lang string.
 *
 * @runTestsInSeparateProcesses
 */
final class StatusReportTest extends TestCase {
    private function strings(): array {
        defined('MOODLE_INTERNAL') || define('MOODLE_INTERNAL', true);
        $string = [];
        include(CRMSYNC_REPO . '/moodle_plugin/lang/en/local_crmsync.php');
        return $string;
    }

    private function table(array $rows): array {
        $strings = $this->strings();
        return status_report::failures_table($rows, function(string $identifier) use ($strings) {
            $this->assertArrayHasKey($identifier, $strings, "lang string $identifier");
            return "{{$strings[$identifier]}}";  // marked, to see that each word went through get_string
        }, function(int $id) {
            return "<button data-id=\"$id\">";
        });
    }

    public function test_every_heading_is_a_lang_string(): void {
        $table = $this->table([]);
        $this->assertSame(['{Message}', '{Type}', '{Subject}', '{Status}', '{Attempts}', "{Receiver's answer}", '{Action}'],
            $table['head']);
    }

    public function test_rows_show_translated_statuses_escaped_text_and_resend_only_for_failed(): void {
        $rows = [
            (object) ['id' => '7', 'type' => 'user.updated', 'subject' => 'user:3', 'status' => 'failed', 'attempts' => '1',
                'lasterror' => 'HTTP 422: data.email: <b>not an e-mail</b>'],
            (object) ['id' => '8', 'type' => 'grade.updated', 'subject' => 'grade:3:2', 'status' => 'pending',
                'attempts' => '2', 'lasterror' => null],
        ];
        $table = $this->table($rows);
        $this->assertSame([7, 'user.updated', 'user:3', '{Failed: waits for an admin}', 1,
            'HTTP 422: data.email: &lt;b&gt;not an e-mail&lt;/b&gt;', '<button data-id="7">'], $table['data'][0]);
        $this->assertSame('{Waiting for a retry}', $table['data'][1][3]);
        $this->assertSame('', $table['data'][1][6]);
    }

    /** index.php shows the table status_report builds, not a head of its own. */
    public function test_the_status_page_uses_the_report_and_no_hard_coded_heading(): void {
        $page = file_get_contents(CRMSYNC_REPO . '/moodle_plugin/index.php');
        $this->assertStringContainsString('status_report::failures_table(', $page);
        $this->assertStringContainsString("\$list->head = \$failures['head'];", $page);
        $this->assertDoesNotMatchRegularExpression('/->head\s*=\s*\[/', $page);
    }

    /**
     * "Last delivery" is the last time the receiver acknowledged a POST: rows coalesced (superseded by a newer
     * row of their subject) are marked delivered while the receiver is down, and must not move it.
     */
    public function test_last_delivery_is_the_last_acknowledged_post_not_a_coalesced_row(): void {
        $outbox = new memory_outbox();
        $outbox->add(1, 'user:3');
        $outbox->add(2, 'user:3');
        $answer = ['status' => 0, 'body' => '', 'error' => 'Failed to connect'];
        $transport = new scripted_transport(function() use (&$answer) {
            return $answer;
        });
        $delivery = new delivery($outbox, $transport, new signer('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'),
            function($row, int $sequence) {
                return ['id' => "msg-{$row->id}", 'subject' => $row->subject, 'sequence' => $sequence];
            }, new backoff(60, 21600, function() {
                return 0.0;
            }), 'http://127.0.0.1:9/webhooks/moodle');
        $now = 1795344100;
        $down = $delivery->run(100, $now);
        $this->assertSame([1, 1], [$down['coalesced'], $down['retry']]);
        $this->assertSame('delivered', $outbox->rows[1]->status);
        $this->assertNull($outbox->acknowledged);

        $answer = ['status' => 202, 'body' => '{"accepted":1}', 'error' => ''];
        $this->assertSame(1, $delivery->run(100, $now + 600)['delivered']);
        $this->assertSame($now + 600, $outbox->acknowledged);
    }

    /** index.php shows the acknowledged time, not the latest timedelivered of the rows. */
    public function test_the_status_page_shows_the_acknowledged_time(): void {
        $page = file_get_contents(CRMSYNC_REPO . '/moodle_plugin/index.php');
        $this->assertStringContainsString('moodle_outbox::last_acknowledged()', $page);
        $this->assertStringNotContainsString('MAX(timedelivered)', $page);
    }

    /** What Test connection says, with the plugin's English strings filled in as Moodle's get_string does. */
    private function test_result(array $answer): string {
        $strings = $this->strings();
        return status_report::test_result($answer, function(string $identifier, $a) use ($strings) {
            $this->assertArrayHasKey($identifier, $strings, "lang string $identifier");
            $text = $strings[$identifier];
            foreach (is_array($a) ? $a : ['' => $a] as $key => $value) {
                $text = str_replace($key === '' ? '{$a}' : "{\$a->$key}", (string) $value, $text);
            }
            return $text;
        });
    }

    public function test_test_connection_says_what_the_receiver_answered(): void {
        $this->assertSame('The receiver answered HTTP 202: {"accepted":1}',
            $this->test_result(['status' => 202, 'body' => '{"accepted":1}', 'error' => '']));
        $this->assertSame('The receiver answered HTTP 401: no valid signature',
            $this->test_result(['status' => 401, 'body' => 'no valid signature', 'error' => '']));
    }

    /** No HTTP status is no answer of the receiver's: never "The receiver answered HTTP 0". */
    public function test_test_connection_says_when_moodle_refused_or_nothing_answered(): void {
        $strings = $this->strings();
        $refused = $this->test_result(['status' => 0, 'body' => '', 'refused' => true,
            'error' => str_replace('{$a}', '8300', $strings['urlblockedport'])]);
        $this->assertStringStartsWith('Nothing was sent. Moodle refused to connect: port 8300 is not in its '
            . '"cURL allowed ports list"', $refused);
        $this->assertStringContainsString('Site administration > General > Security > HTTP security', $refused);
        $this->assertStringContainsString('Add 8300 to that list', $refused);

        $nothing = $this->test_result(['status' => 0, 'body' => '', 'refused' => false,
            'error' => 'Failed to connect to 127.0.0.1 port 1: Connection refused']);
        $this->assertStringStartsWith('Nothing answered at the receiver URL: Failed to connect to 127.0.0.1 port 1: '
            . 'Connection refused.', $nothing);
        $this->assertStringContainsString('no answer', $this->test_result(['status' => 0, 'body' => '', 'error' => '']));
        foreach ([$refused, $nothing] as $text) {
            $this->assertStringNotContainsString('HTTP 0', $text);
        }
    }
}
