// The jest examples of docs/testing.md live in docs/examples/testing/ so the page can show them whole;
// importing them here runs them as part of the suite (testMatch covers __tests__ only).
import '../docs/examples/testing/payment.test';
