<?php
use local_crmsync\local\event_map;
use local_crmsync\local\state_reader;

require_once(__DIR__ . '/state_messages_test_case.php');

/**
 * Course groups and tutors reach the CRM: which events record a group's row or the course summary, and
 * what the group.updated / group.deleted messages and the summary's tutors say, checked against the schemas.
 */
final class GroupMessagesTest extends state_messages_test_case {
    protected function setUp(): void {
        parent::setUp();
        $this->moodle->coursegroups[1] = (object) ['id' => '1', 'courseid' => '2', 'idnumber' => 'GA', 'name' => 'Group A',
            'description' => '<p>Mondays &amp; Thursdays</p><p>Room <b>4</b></p>', 'descriptionformat' => '1',
            'timemodified' => '1795344023'];
        $this->moodle->members[1] = [3, 4];
    }

    private function dump(string $name): array {
        $file = CRMSYNC_SHARED . "/fixtures/moodle-4.3-events/$name";
        $this->assertFileExists($file, 'the recorded event dumps were not found beside the repository');
        return json_decode(file_get_contents($file), true)['data'];
    }

    /** The message an outbox row recorded for an event_map entry becomes when it is sent; valid or null. */
    private function sent(array $entry): ?array {
        $row = (object) ['id' => '12', 'messageid' => '7b2f0b9e-2d4a-41f3-b8c0-7c1f0b9e2d4b', 'type' => $entry['type'],
            'subject' => $entry['subject'], 'eventdata' => $entry['eventdata'] === null ? null : json_encode($entry['eventdata']),
            'snapshot' => $entry['snapshot'] === null ? null : json_encode($entry['snapshot']), 'timecreated' => '1795344090'];
        $message = state_reader::message($row, 1795344100000002, $this->moodle);
        if ($message !== null) {
            $this->assertSame([], self::$schema->errors($message), $entry['type']);
        }
        return $message;
    }

    private function group_entries(array $data, ?array $carried = null): array {
        return array_values(array_filter(event_map::entries($data, $carried), function($entry) {
            return strpos($entry['subject'], 'group:') === 0;
        }));
    }

    public function test_a_created_group_is_sent_with_its_course_plain_description_and_members(): void {
        $entries = $this->group_entries($this->dump('00022_core_event_group_created.json'));
        $this->assertSame(['group.updated group:1'], [$entries[0]['type'] . ' ' . $entries[0]['subject']]);
        $this->assertNull($entries[0]['userid'], 'a group is about no learner');
        $message = $this->sent($entries[0]);
        $this->assertSame('group.updated', $message['type']);
        $this->assertSame(['id' => 1, 'courseid' => 2,
            'course' => ['id' => 2, 'shortname' => 'CRM101', 'fullname' => 'CRM for beginners', 'idnumber' => 'C-101'],
            'name' => 'Group A', 'idnumber' => 'GA', 'description' => "Mondays & Thursdays\nRoom 4", 'members' => 2,
            'timemodified' => 1795344023], $message['data']);
        $this->assertSame('\\core\\event\\group_created', $message['moodle_event']['eventname']);
    }

    /** A member added or removed changes the count: the group's row, which keeps no learner's event. */
    public function test_a_membership_change_re_sends_the_group_with_its_new_count(): void {
        foreach (['00024_core_event_group_member_added.json', '00027_core_event_group_member_removed.json'] as $dump) {
            $entries = $this->group_entries($this->dump($dump));
            $this->assertCount(1, $entries, $dump);
            $this->assertSame(['group.updated', 'group:1', null, null],
                [$entries[0]['type'], $entries[0]['subject'], $entries[0]['userid'], $entries[0]['eventdata']], $dump);
        }
        $this->moodle->members[1] = [3];
        $message = $this->sent($entries[0]);
        $this->assertSame(1, $message['data']['members']);
        $this->assertNull($message['moodle_event']);
    }

    /** group_deleted keeps the name and idnumber (the row is gone when the message is sent). */
    public function test_a_deleted_group_is_sent_as_a_deletion_with_what_the_event_carried(): void {
        $data = array_merge($this->dump('00022_core_event_group_created.json'),
            ['eventname' => '\\core\\event\\group_deleted', 'action' => 'deleted', 'crud' => 'd']);
        $entries = $this->group_entries($data, ['members' => ['3'], 'group' => ['name' => 'Group A', 'idnumber' => 'GA']]);
        $this->assertSame(['group.deleted'], array_column($entries, 'type'));
        unset($this->moodle->coursegroups[1], $this->moodle->members[1]);
        $message = $this->sent($entries[0]);
        $this->assertSame(['group.deleted', 'group:1'], [$message['type'], $message['subject']]);
        $this->assertSame(['id' => 1, 'courseid' => 2, 'name' => 'Group A', 'idnumber' => 'GA', 'deleted' => true],
            $message['data']);

        // A member change whose group is gone by the time it is sent says the group is gone, with its course.
        $added = $this->group_entries($this->dump('00024_core_event_group_member_added.json'))[0];
        $this->assertSame(['group.deleted', ['id' => 1, 'courseid' => 2, 'deleted' => true]],
            [$this->sent($added)['type'], $this->sent($added)['data']]);
    }

    public function test_a_description_is_text_a_crm_user_reads(): void {
        $this->moodle->coursegroups[1]->description = "Line 1<br />Line 2\r\n\x07<script>x</script>&lt;tag&gt; &eacute;t&eacute;"
            . str_repeat('a', 20000);
        $description = $this->sent($this->group_entries($this->dump('00022_core_event_group_created.json'))[0])['data']['description'];
        $this->assertStringStartsWith("Line 1\nLine 2\nx<tag> été", $description);
        $this->assertSame(16383, mb_strlen($description));
    }

    /** The front page has no groups the CRM knows of. */
    public function test_no_group_row_for_the_front_page(): void {
        $created = array_merge($this->dump('00022_core_event_group_created.json'), ['courseid' => '1']);
        $this->assertSame([], event_map::entries($created));
        $this->assertSame('courses', event_map::group('group.deleted'));
    }

    /** A teacher's role change re-sends the summary (its tutors); a student's does not (their enrolment does). */
    public function test_a_tutor_role_change_re_sends_the_course_summary(): void {
        $assigned = $this->dump('00017_core_event_role_assigned.json');
        $unassigned = $this->dump('00072_core_event_role_unassigned.json');
        foreach ([$assigned, $unassigned] as $data) {
            foreach (['editingteacher' => true, 'teacher' => true, 'student' => false] as $role => $summary) {
                $types = array_column(event_map::entries($data, ['role' => $role]), 'type');
                $expected = $summary ? ['enrolment.updated', 'course_summary.updated'] : ['enrolment.updated'];
                $this->assertSame($expected, $types, "{$data['eventname']} $role");
            }
        }
        $this->assertSame(['enrolment.updated'], array_column(event_map::entries($assigned), 'type'));
    }

    /** The summary lists the course's tutors with an active enrolment, by last name; no learner. */
    public function test_the_course_summary_names_its_tutors(): void {
        $enrolment = $this->moodle->enrolments['3:2'][0];
        $tutor = function(string $id, string $first, string $last, array $roles, string $status = '0') use ($enrolment) {
            $this->moodle->users[(int) $id] = (object) ['id' => $id, 'firstname' => $first, 'lastname' => $last];
            $this->moodle->enrolments["$id:2"] = [(object) (['status' => $status] + (array) $enrolment)];
            $this->moodle->roles["$id:2"] = $roles;
        };
        $tutor('7', 'Zoë', 'Brown & Co', ['editingteacher']);
        $tutor('8', 'Ann', 'Adams', ['teacher', 'manager']);
        $tutor('9', 'Sam', 'Suspended', ['editingteacher'], '1');
        $row = ['type' => 'course_summary.updated', 'subject' => 'course_summary:2', 'eventdata' => null, 'snapshot' => null];
        $this->assertSame([
            ['id' => 8, 'firstname' => 'Ann', 'lastname' => 'Adams', 'roles' => ['teacher']],
            ['id' => 7, 'firstname' => 'Zoë', 'lastname' => 'Brown & Co', 'roles' => ['editingteacher']],
        ], $this->sent($row)['data']['tutors']);
    }
}
