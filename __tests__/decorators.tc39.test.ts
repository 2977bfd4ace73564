// Decorators under standard (TC39) decorators (the jest project using tsconfig.tc39.json); the same
// checks run under experimentalDecorators in decorators.legacy.test.ts (see decorators.suite.ts).
import { describeDecoratorSuite } from './decorators.suite';

describeDecoratorSuite('tc39');
