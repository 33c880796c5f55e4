import { DeliveryMachine, fire, type DeliveryStatus, type DeliveryTransition } from '@ipm/lifecycle';
import type { AttemptResult } from '../delivery-client';
import { classifyAttempt, nextRetryDelay, parseRetryAfter } from '../delivery-policy';
import type { DeliveryErrorKind } from '../entities/delivery.entity';

/** What one attempt leads to: the delivery's next state, when to try again, and what happens to the webhook. */
export interface AttemptDecision {
  status: Extract<DeliveryStatus, 'success' | 'retrying' | 'failed' | 'dead_letter'>;
  errorKind: DeliveryErrorKind | null;
  /** Set when status is `retrying`. */
  retryDelayMs: number | null;
  /** `disable`: the endpoint answered 410 Gone. */
  webhookAction: 'none' | 'disable';
}

type AttemptEnd = AttemptDecision['status'];

/** Where the named transition leads an `in_flight` delivery, as the delivery machine says. */
function after(name: Extract<DeliveryTransition, 'succeed' | 'retry' | 'fail' | 'exhaust'>): AttemptEnd {
  return fire(DeliveryMachine, 'in_flight', name) as AttemptEnd;
}

/**
 * Decides the outcome of an attempt (the `attempt`-th of at most `maxAttempts`) from its result:
 * 2xx success; 410 fails it and disables the webhook; SSRF refusals and unusable URLs fail without
 * retry; everything else retries on the schedule (Retry-After honoured) until attempts run out,
 * then dead_letter. Every state comes through the delivery machine (from `in_flight`).
 */
export function decideAttempt(
  result: AttemptResult,
  attempt: number,
  maxAttempts: number,
  now: Date,
  random: () => number = Math.random,
): AttemptDecision {
  const { kind, outcome } = classifyAttempt({
    status: result.status ?? undefined,
    errorCode: result.errorCode ?? undefined,
  });
  const errorKind: DeliveryErrorKind | null = kind;
  if (outcome === 'success') {
    return {
      status: after('succeed'),
      errorKind,
      retryDelayMs: null,
      webhookAction: 'none',
    };
  }
  if (outcome === 'disable' || outcome === 'fail') {
    return {
      status: after('fail'),
      errorKind,
      retryDelayMs: null,
      webhookAction: outcome === 'disable' ? 'disable' : 'none',
    };
  }
  const delay = nextRetryDelay({
    attempt,
    maxAttempts,
    retryAfterMs: parseRetryAfter(result.responseHeaders['retry-after'], now),
    random,
  });
  if (delay === null) {
    return {
      status: after('exhaust'),
      errorKind,
      retryDelayMs: null,
      webhookAction: 'none',
    };
  }
  return {
    status: after('retry'),
    errorKind,
    retryDelayMs: delay,
    webhookAction: 'none',
  };
}

/** The consecutive-failure count after a run of attempt outcomes (in order), from `start`: a success resets it. */
export function consecutiveFailuresAfter(start: number, successes: readonly boolean[]): number {
  let count = start;
  for (const ok of successes) count = ok ? 0 : count + 1;
  return count;
}
