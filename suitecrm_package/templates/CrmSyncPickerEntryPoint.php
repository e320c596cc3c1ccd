<?php
/**
 * index.php?entryPoint=crmsyncPicker (a logged-in CRM user only: 'auth' => true in the registry):
 *   &choices=courses                       the Moodle Courses' short names
 *   &choices=groups&course_id=<CRM id>     the groups of that course
 *   &choices=groups&courses=<short names, one per line>   the groups of those courses
 * as JSON {"choices": [...]}; what the user may not list, or a bad request, gets a 4xx with a reason.
 */
if (!defined('sugarEntry') || !sugarEntry) {
    die('Not A Valid Entry Point');
}
require_once 'custom/crmsync/CrmSyncPicker.php';

$crmsyncAnswer = function (int $status, array $body) {
    http_response_code($status);
    header('Content-Type: application/json; charset=utf-8');
    header('Cache-Control: no-store');
    echo json_encode($body);
};
$crmsyncChoices = $_GET['choices'] ?? '';
$crmsyncModule = array('courses' => 'mdl_Courses', 'groups' => 'mdl_Groups')[$crmsyncChoices] ?? null;
if ($crmsyncModule === null) {
    $crmsyncAnswer(400, array('error' => 'choices must be courses or groups'));
} elseif (!ACLController::checkAccess($crmsyncModule, 'list', true)) {
    $crmsyncAnswer(403, array('error' => "You may not list $crmsyncModule."));
} else {
    $crmsyncPicker = new CrmSyncPicker($GLOBALS['db']);
    if ($crmsyncChoices === 'courses') {
        $crmsyncAnswer(200, array('choices' => $crmsyncPicker->courses()));
    } elseif (($_GET['course_id'] ?? '') !== '') {
        $crmsyncAnswer(200, array('choices' => $crmsyncPicker->groupsOfCourse((string) $_GET['course_id'])));
    } elseif (isset($_GET['courses'])) {
        $crmsyncAnswer(200, array('choices' => $crmsyncPicker->groupsOfCourses(preg_split('/\r?\n/', (string) $_GET['courses']))));
    } else {
        $crmsyncAnswer(400, array('error' => 'Choose the course first.'));
    }
}
sugar_cleanup(true);
