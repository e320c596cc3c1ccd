"""What the bundled sandboxes (SuiteCRM's and Moodle's) share: the request gate, the threaded server, and
the child process the tests and benchmarks run a sandbox in."""
