/**
 * Every state machine of the platform, as data. Services change state only by asking for a named
 * transition (`fire()`, lifecycle.ts), and SQL state lists are derived from these definitions
 * (`statesWhere()`, `sqlStates()`); `/lifecycle/list` serves these same objects.
 */
export interface StateDefinition {
  name: string;
  description: string;
  initial?: true;
  terminal?: true;
}

export interface TransitionDefinition<S extends string = string, T extends string = string> {
  /** What the transition is called (`commit`, `retry`, `continue`); one name may leave several states. */
  name: T;
  from: S;
  to: S;
  description: string;
}

export interface MachineDefinition<S extends string = string, T extends string = string> {
  /** e.g. `webhook`, `delivery`. */
  name: string;
  /** The service that owns the records, as in event types (`ipm`). */
  service: string;
  version: string;
  description: string;
  states: ReadonlyArray<StateDefinition & { name: S }>;
  transitions: ReadonlyArray<TransitionDefinition<S, T>>;
}

function machine<S extends string, T extends string>(def: MachineDefinition<S, T>): MachineDefinition<S, T> {
  for (const t of def.transitions) {
    const twins = def.transitions.filter((u) => u.name === t.name && u.from === t.from);
    if (twins.length > 1) throw new Error(`machine ${def.name}: ${t.name} leaves ${t.from} twice`);
  }
  return Object.freeze(def);
}

export const WebhookMachine = machine({
  name: 'webhook',
  service: 'ipm',
  version: '1',
  description: 'A webhook subscription: only active webhooks receive deliveries.',
  states: [
    { name: 'active', description: 'Receives deliveries', initial: true },
    { name: 'paused', description: 'Paused by a person or after consecutive failures; events are not delivered' },
    { name: 'disabled', description: 'Turned off (e.g. the endpoint answered 410 Gone); needs an explicit re-enable' },
  ],
  transitions: [
    { name: 'pause', from: 'active', to: 'paused', description: 'pause, by request or after N consecutive failures' },
    { name: 'disable', from: 'active', to: 'disabled', description: 'disable, by request or on 410 Gone' },
    { name: 'resume', from: 'paused', to: 'active', description: 'resume' },
    { name: 'disable', from: 'paused', to: 'disabled', description: 'disable' },
    { name: 'enable', from: 'disabled', to: 'active', description: 're-enable' },
  ],
});

export const DeliveryMachine = machine({
  name: 'delivery',
  service: 'ipm',
  version: '1',
  description: 'One event sent to one webhook, over one or more attempts.',
  states: [
    { name: 'pending', description: 'Created by the fan-out, waiting for a worker', initial: true },
    { name: 'in_flight', description: 'An attempt is being made' },
    { name: 'retrying', description: 'The last attempt failed; another is scheduled' },
    { name: 'success', description: 'The endpoint answered 2xx', terminal: true },
    { name: 'failed', description: 'Not retried: 410 Gone, an SSRF refusal, or the webhook went away', terminal: true },
    { name: 'dead_letter', description: 'Every attempt of the retry policy failed', terminal: true },
  ],
  transitions: [
    { name: 'start', from: 'pending', to: 'in_flight', description: 'a worker starts the first attempt' },
    {
      name: 'abandon',
      from: 'pending',
      to: 'failed',
      description: 'the webhook was paused, disabled or deleted before sending',
    },
    { name: 'succeed', from: 'in_flight', to: 'success', description: '2xx' },
    { name: 'retry', from: 'in_flight', to: 'retrying', description: 'retryable failure with attempts left' },
    { name: 'fail', from: 'in_flight', to: 'failed', description: 'failure that is not retried' },
    { name: 'exhaust', from: 'in_flight', to: 'dead_letter', description: 'retryable failure with no attempts left' },
    { name: 'start', from: 'retrying', to: 'in_flight', description: 'the next attempt starts' },
    {
      name: 'abandon',
      from: 'retrying',
      to: 'failed',
      description: 'the webhook was paused, disabled or deleted meanwhile',
    },
  ],
});

export const BulkJobMachine = machine({
  name: 'bulk_job',
  service: 'ipm',
  version: '1',
  description: 'An import or export job, processed in chunks with a checkpoint.',
  states: [
    { name: 'awaiting_upload', description: 'Import created; waiting for the file', initial: true },
    { name: 'queued', description: 'Committed (import) or created (export); waiting for a worker' },
    { name: 'running', description: 'A worker is processing chunks' },
    { name: 'failed', description: 'Stopped on an error; `continue` resumes from the checkpoint' },
    { name: 'completed', description: 'Every line or row processed, none rejected' },
    { name: 'completed_with_errors', description: 'Every line processed; some were rejected (see the report)' },
    { name: 'cancelled', description: 'Cancelled by request; an import can `continue`' },
    { name: 'expired', description: 'Its files aged out (BULK_FILE_TTL_DAYS) and were deleted', terminal: true },
  ],
  transitions: [
    { name: 'commit', from: 'awaiting_upload', to: 'queued', description: 'commit after upload' },
    { name: 'cancel', from: 'awaiting_upload', to: 'cancelled', description: 'cancel' },
    { name: 'expire', from: 'awaiting_upload', to: 'expired', description: 'never uploaded or committed in time' },
    { name: 'start', from: 'queued', to: 'running', description: 'a worker picks it up' },
    { name: 'cancel', from: 'queued', to: 'cancelled', description: 'cancel' },
    { name: 'complete', from: 'running', to: 'completed', description: 'last chunk done, nothing rejected' },
    {
      name: 'complete_with_errors',
      from: 'running',
      to: 'completed_with_errors',
      description: 'last chunk done, some lines rejected',
    },
    { name: 'fail', from: 'running', to: 'failed', description: 'an error stopped it (e.g. not the declared format)' },
    {
      name: 'requeue',
      from: 'running',
      to: 'queued',
      description: 'the worker stopped mid-way (shutdown); resumes from the checkpoint',
    },
    { name: 'cancel', from: 'running', to: 'cancelled', description: 'cancel' },
    { name: 'continue', from: 'failed', to: 'queued', description: 'continue from the checkpoint' },
    { name: 'cancel', from: 'failed', to: 'cancelled', description: 'cancel' },
    { name: 'expire', from: 'failed', to: 'expired', description: 'files aged out' },
    { name: 'continue', from: 'cancelled', to: 'queued', description: 'continue an import from the checkpoint' },
    { name: 'expire', from: 'cancelled', to: 'expired', description: 'files aged out' },
    { name: 'expire', from: 'completed', to: 'expired', description: 'files aged out' },
    { name: 'expire', from: 'completed_with_errors', to: 'expired', description: 'files aged out' },
  ],
});

export const KpiAlertMachine = machine({
  name: 'kpi_alert',
  service: 'ipm',
  version: '1',
  description: 'A KPI threshold watched on one bucket: firing while crossed, resolved once back within it.',
  states: [
    { name: 'firing', description: 'The threshold is crossed', initial: true },
    { name: 'acknowledged', description: 'Still crossed; someone is on it' },
    { name: 'resolved', description: 'Back within the threshold (or never crossed); fires again if crossed again' },
  ],
  transitions: [
    { name: 'acknowledge', from: 'firing', to: 'acknowledged', description: 'acknowledge' },
    {
      name: 'resolve',
      from: 'firing',
      to: 'resolved',
      description: 'an evaluation found the value back within the threshold',
    },
    {
      name: 'resolve',
      from: 'acknowledged',
      to: 'resolved',
      description: 'an evaluation found the value back within the threshold',
    },
    { name: 'fire', from: 'resolved', to: 'firing', description: 'an evaluation found the threshold crossed again' },
  ],
});

export type WebhookStatus = (typeof WebhookMachine.states)[number]['name'];
export type WebhookTransition = (typeof WebhookMachine.transitions)[number]['name'];
export type DeliveryTransition = (typeof DeliveryMachine.transitions)[number]['name'];
export type BulkJobTransition = (typeof BulkJobMachine.transitions)[number]['name'];
export type KpiAlertTransition = (typeof KpiAlertMachine.transitions)[number]['name'];
export type DeliveryStatus = (typeof DeliveryMachine.states)[number]['name'];
export type BulkJobStatus = (typeof BulkJobMachine.states)[number]['name'];
export type KpiAlertStatus = (typeof KpiAlertMachine.states)[number]['name'];

export const MACHINES = [WebhookMachine, DeliveryMachine, BulkJobMachine, KpiAlertMachine] as const;
