// docs/testing.md tells its reader to save the shop's workflow (docs/examples/shop/shop.ts) next to
// the tests as shop.ts; here that copy is this re-export, so payment.test.ts imports './shop' as the
// reader's file does.
export * from '../shop/shop';
