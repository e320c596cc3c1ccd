"""A Moodle 4.3 web-service sandbox: answers /webservice/rest/server.php as the recorded Moodle does."""
