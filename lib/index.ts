// The public API of durablite, listed name by name.
export { Engine } from './engine';
export { Client } from './client';
export type { ClientOptions } from './client';
export type { ListWaitsOptions, ListWorkflowsOptions } from './handler';
export type { EngineOptions, EngineWarning } from './options';
export type { RecoveryReport } from './contracts';
export type { EngineEvents, RunCause } from './contracts';
export type {
  HandlerContext,
  WorkflowContext,
  StepContext,
  StartWorkflowOptions,
  ReadStreamOptions,
  CancelWorkflowOptions,
  DeleteWorkflowOptions,
  PruneWorkflowsOptions,
  ForkWorkflowOptions,
  WorkflowTarget,
  StepTarget,
  WorkflowInvoker,
  HandlerInvoker,
} from './contracts';
export type { WorkflowHandle } from './contracts';
export { Workflow, Step, Communicator, registerWorkflow, registerStep } from './decorators';
export type { WorkflowRef, StepRef, WorkflowFunction, StepFunction, MethodDecorator, WorkflowOptions, StepOptions, RegisterStepOptions, StepRetryOptions } from './decorators';
export {
  DurabliteError,
  WorkflowNotFoundError,
  WorkflowConflictError,
  WorkflowPendingError,
  DuplicateEventKeyError,
  DeterminismError,
  SerializationError,
  PayloadTooLargeError,
  SchemaVersionError,
  DatabaseOpenError,
  DatabaseOwnedError,
  ExecutorInUseError,
  EngineClosedError,
  RegistrationError,
  MaxRecoveryAttemptsExceededError,
  WorkflowContextError,
  StepRetriesExceededError,
  WorkflowCancelledError,
  WorkflowTimeoutError,
  StorageError,
  StorageFullError,
  UnreadableRecordError,
  StreamClosedError,
  StreamTimeoutError,
} from './errors';
export type { ErrorContext } from './errors';
export type { Clock, Alarm } from './runtime/clock';
export { SystemClock } from './runtime/clock';
export type { SynchronousMode } from './store/database';
export type { PostgresOptions } from './postgres/database';
export type { WorkflowStatus, WorkflowStatusName, MessageInfo, OperationInfo, OperationKind, SelectBranch, SelectResult, RecvAnyResult, StreamInfo } from './types';
export type { WaitInfo, SendManyMessage, SendManyResult, StepAttemptInfo, CancelResult, ResumeResult, DeleteResult, PruneResult, DeletedRows } from './types';
