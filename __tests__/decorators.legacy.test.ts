// Decorators under TypeScript's experimentalDecorators (this project's tsconfig.json); the same
// checks run under standard decorators in decorators.tc39.test.ts (see decorators.suite.ts).
import { describeDecoratorSuite } from './decorators.suite';

describeDecoratorSuite('legacy');
