// The decorator checks, shared by decorators.legacy.test.ts (compiled with experimentalDecorators)
// and decorators.tc39.test.ts (compiled with standard decorators): each jest project compiles this
// module with its own tsconfig, so the same classes below are decorated by each flavour in turn.
import {
  Communicator,
  registerStep,
  registerWorkflow,
  RegistrationError,
  Step,
  Workflow,
  type StepContext,
  type WorkflowContext,
} from '../lib';
import { openTestEngine } from './helpers';

/** Records the arguments a method decorator receives, to prove which flavour this file compiles with. */
const decoratorCalls: unknown[][] = [];
function probe(...args: unknown[]): void {
  decoratorCalls.push(args);
}
class Probe {
  @probe static method(): void {}
}
void Probe;

class Shop {
  @Workflow() static async checkout(ctxt: WorkflowContext, orderId: string): Promise<{ reserved: string; notified: string; names: string[] }> {
    const reserved = await ctxt.invoke(Shop).reserve(orderId);
    const notified = await ctxt.invoke(Shop).notify(orderId);
    const names = [await ctxt.runStep(Shop.stepName), ctxt.workflowName];
    return { reserved: reserved.value, notified, names: [reserved.stepName, ...names] };
  }

  @Step() static async reserve(ctxt: StepContext, orderId: string): Promise<{ value: string; stepName: string }> {
    return { value: `reserved ${orderId}`, stepName: ctxt.stepName };
  }

  @Communicator() static async notify(ctxt: StepContext, orderId: string): Promise<string> {
    return `${ctxt.stepName} sent for ${orderId}`;
  }

  @Step() static stepName(ctxt: StepContext): string {
    return ctxt.stepName;
  }

  @Workflow() static async parent(ctxt: WorkflowContext, orderId: string): Promise<string> {
    const child = await ctxt.invoke(Shop).checkout(orderId);
    return child.reserved;
  }
}

export type DecoratorFlavour = 'legacy' | 'tc39';

/** Registers the decorator tests for the flavour this module was compiled with. */
export function describeDecoratorSuite(flavour: DecoratorFlavour): void {
  describe(flavour === 'legacy' ? 'decorators under experimentalDecorators' : 'decorators under standard (TC39) decorators', () => {
    test(`this file is compiled with ${flavour === 'legacy' ? 'experimentalDecorators (target, key, descriptor)' : 'standard decorators (value, context)'}`, () => {
      expect(decoratorCalls).toHaveLength(1);
      const args = decoratorCalls[0]!;
      const legacyShape = args.length === 3 && typeof args[2] === 'object';
      const standardShape = args.length === 2 && typeof args[1] === 'object' && (args[1] as { kind?: unknown }).kind === 'method';
      expect(flavour === 'legacy' ? legacyShape : standardShape).toBe(true);
    });

    test('decorated static methods register as ClassName.methodName and run end to end', async () => {
      const engine = await openTestEngine();
      const handle = await engine.invoke(Shop, `${flavour}-order`).checkout('o-1');
      expect(await handle.getResult()).toEqual({
        reserved: 'reserved o-1',
        notified: 'Shop.notify sent for o-1',
        names: ['Shop.reserve', 'Shop.stepName', 'Shop.checkout'],
      });
      expect(await handle.getStatus()).toMatchObject({ workflowName: 'Shop.checkout', status: 'SUCCESS' });
      await engine.close();
    });

    test('a decorated workflow starts with startWorkflow and runs as a child through ctxt.invoke', async () => {
      const engine = await openTestEngine();
      const direct = await engine.startWorkflow(Shop.checkout, { workflowUUID: `${flavour}-direct` }, 'o-2');
      expect((await direct.getResult()).reserved).toBe('reserved o-2');

      const parent = await engine.invoke(Shop, `${flavour}-parent`).parent('o-3');
      expect(await parent.getResult()).toBe('reserved o-3');
      expect(await engine.retrieveWorkflow(`${flavour}-parent-0`).getStatus()).toMatchObject({ workflowName: 'Shop.checkout', parentUUID: `${flavour}-parent` });
      await engine.close();
    });

    test('the registered names are taken: registering another function under them throws', () => {
      for (const register of [
        () => registerWorkflow('Shop.checkout', async () => 'impostor'),
        () => registerStep('Shop.reserve', async () => 'impostor'),
        () => registerStep('Shop.notify', async () => 'impostor'),
      ]) {
        expect(register).toThrow(RegistrationError);
      }
    });

    test('a step cannot be started as a workflow from outside', async () => {
      const engine = await openTestEngine();
      await expect(engine.invoke(Shop).reserve('o-4')).rejects.toBeInstanceOf(TypeError);
      await expect(engine.startWorkflow(Shop.reserve as never)).rejects.toBeInstanceOf(RegistrationError);
      await engine.close();
    });

    test('decorating an instance method throws TypeError when the class is defined', () => {
      const decorators = [Workflow, Step, Communicator];
      for (const decorator of decorators) {
        const define = () => {
          class Cart {
            @decorator() async add(_ctxt: WorkflowContext): Promise<void> {}
          }
          return Cart;
        };
        expect(define).toThrow(TypeError);
        expect(define).toThrow(/static method/);
      }
    });

    test('another class with the same name and method throws RegistrationError DUPLICATE_REGISTRATION', async () => {
      const define = () => {
        class Shop {
          @Workflow() static async checkout(_ctxt: WorkflowContext): Promise<string> {
            return 'impostor';
          }
        }
        return Shop;
      };
      const duplicate = { code: 'DUPLICATE_REGISTRATION', registeredName: 'Shop.checkout' };
      if (flavour === 'legacy') {
        // Legacy decorators see the finished class: the name is checked when it is defined.
        expect(define).toThrow(expect.objectContaining(duplicate));
        return;
      }
      // Standard decorators: the name is read at the next lookup, and using the impostor throws.
      const Impostor = define();
      const engine = await openTestEngine();
      await expect(engine.startWorkflow(Impostor.checkout)).rejects.toMatchObject(duplicate);
      expect(() => engine.invoke(Impostor).checkout()).toThrow(expect.objectContaining(duplicate));
      // The first Shop keeps its name.
      expect(await (await engine.invoke(Shop, `${flavour}-after-duplicate`).checkout('o-5')).getResult()).toMatchObject({ reserved: 'reserved o-5' });
      await engine.close();
    });

    test('a name a decorated method has is taken before any lookup reads it', () => {
      class Early {
        @Workflow() static async go(_ctxt: WorkflowContext): Promise<void> {}
      }
      void Early;
      expect(() => registerWorkflow('Early.go', async () => 'impostor')).toThrow(expect.objectContaining({ code: 'DUPLICATE_REGISTRATION' }));
    });

    test('a pinned name replaces ClassName.methodName and is checked when the class is defined', async () => {
      class Renamed {
        @Workflow({ name: `${flavour}.pinned-workflow` }) static async run(ctxt: WorkflowContext): Promise<string> {
          return ctxt.invoke(Renamed).work();
        }

        @Step({ name: `${flavour}.pinned-step` }) static async work(ctxt: StepContext): Promise<string> {
          return ctxt.stepName;
        }
      }
      const engine = await openTestEngine();
      const handle = await engine.invoke(Renamed, `${flavour}-pinned`).run();
      expect(await handle.getResult()).toBe(`${flavour}.pinned-step`);
      expect(await handle.getStatus()).toMatchObject({ workflowName: `${flavour}.pinned-workflow` });
      await engine.close();

      const again = () => {
        class Other {
          @Workflow({ name: `${flavour}.pinned-workflow` }) static async run(): Promise<void> {}
        }
        return Other;
      };
      expect(again).toThrow(expect.objectContaining({ code: 'DUPLICATE_REGISTRATION' }));
      expect(() => Workflow({ name: '' })).toThrow(TypeError);
      expect(() => Step({ name: 42 as never })).toThrow(/Expected `name` to be a non-empty string/);
    });
  });
}
