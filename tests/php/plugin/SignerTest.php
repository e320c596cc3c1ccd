<?php
use local_crmsync\webhook\signer;
use PHPUnit\Framework\TestCase;

final class SignerTest extends TestCase {
    /** The example of the Standard Webhooks specification: same secret, id, time and body, same signature. */
    public function test_matches_the_specification_example(): void {
        $signer = new signer('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
        $body = '{"test": 2432232314}';
        $this->assertSame('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
            $signer->signature('msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, $body));
    }

    public function test_headers_carry_id_timestamp_and_signature(): void {
        $signer = new signer(signer::generate_secret());
        $headers = $signer->headers('id-1', 1700000000, '{}');
        $this->assertSame(['webhook-id', 'webhook-timestamp', 'webhook-signature'], array_keys($headers));
        $this->assertSame('1700000000', $headers['webhook-timestamp']);
        $this->assertStringStartsWith('v1,', $headers['webhook-signature']);
    }

    public function test_a_different_body_gives_a_different_signature(): void {
        $signer = new signer('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
        $this->assertNotSame($signer->signature('a', 1, '{"x":1}'), $signer->signature('a', 1, '{"x":2}'));
    }

    public function test_refuses_a_secret_without_the_prefix(): void {
        $this->expectException(\InvalidArgumentException::class);
        new signer('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    }
}
