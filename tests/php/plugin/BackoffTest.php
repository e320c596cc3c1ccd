<?php
use local_crmsync\local\backoff;
use PHPUnit\Framework\TestCase;

final class BackoffTest extends TestCase {
    public function test_delay_doubles_between_half_and_full_ceiling(): void {
        $low = new backoff(60, 21600, function() { return 0.0; });
        $high = new backoff(60, 21600, function() { return 0.999999; });
        $this->assertSame([30, 60, 120, 240], array_map([$low, 'delay'], [1, 2, 3, 4]));
        $this->assertSame([60, 120, 240, 480], array_map([$high, 'delay'], [1, 2, 3, 4]));
    }

    public function test_delay_is_capped_at_six_hours(): void {
        $backoff = new backoff(60, 21600, function() { return 0.999999; });
        $this->assertSame(21600, $backoff->delay(40));
    }

    public function test_jitter_spreads_retries(): void {
        $backoff = new backoff();
        $delays = array_map(function() use ($backoff) { return $backoff->delay(5); }, range(1, 50));
        $this->assertGreaterThan(5, count(array_unique($delays)));
        $this->assertGreaterThanOrEqual(480, min($delays));
        $this->assertLessThanOrEqual(960, max($delays));
    }
}
