export {
  StateMachine,
  type AslEvent,
  type Execution,
  type RunOptions,
  type TaskContext,
  type TaskHandler,
} from './interpreter';
export {
  AslDefinitionError,
  ExecutionAbortedError,
  ExecutionFailedError,
  StatesError,
  StatesErrors,
} from './errors';
