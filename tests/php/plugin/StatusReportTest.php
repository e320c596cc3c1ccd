<?php
use local_crmsync\local\status_report;
use PHPUnit\Framework\TestCase;

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
}
