import { AppError, ErrorCode } from '@ipm/core';
import {
  canFire,
  canTransition,
  fire,
  initialState,
  isTerminal,
  sourcesOf,
  sqlStates,
  terminalStates,
  transition,
  transitionBetween,
} from './lifecycle';
import { BulkJobMachine, DeliveryMachine, KpiAlertMachine, MACHINES, WebhookMachine } from './machines';

describe('state machines as data', () => {
  it.each(MACHINES.map((m) => [m.name, m] as const))('%s is well formed', (_, machine) => {
    const names = machine.states.map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
    expect(machine.states.filter((s) => s.initial)).toHaveLength(1);
    for (const t of machine.transitions) {
      expect(names).toContain(t.from);
      expect(names).toContain(t.to);
      expect(t.from).not.toBe(t.to);
    }
    // terminal states have no way out; every other state has one
    for (const s of machine.states) {
      const out = machine.transitions.filter((t) => t.from === s.name);
      if (s.terminal) expect(out).toEqual([]);
      else expect(out.length).toBeGreaterThan(0);
    }
    // every state is reachable from the initial one
    const seen = new Set([initialState(machine)]);
    let grew = true;
    while (grew) {
      grew = false;
      for (const t of machine.transitions) {
        if (seen.has(t.from) && !seen.has(t.to)) {
          seen.add(t.to);
          grew = true;
        }
      }
    }
    expect([...seen].sort()).toEqual([...names].sort());
  });

  it('names the states the issue lists', () => {
    expect(WebhookMachine.states.map((s) => s.name)).toEqual(['active', 'paused', 'disabled']);
    expect(DeliveryMachine.states.map((s) => s.name)).toEqual([
      'pending',
      'in_flight',
      'retrying',
      'success',
      'failed',
      'dead_letter',
    ]);
    expect(initialState(BulkJobMachine)).toBe('awaiting_upload');
    expect(initialState(KpiAlertMachine)).toBe('firing');
    expect(KpiAlertMachine.states.map((s) => s.name)).toEqual(['firing', 'acknowledged', 'resolved']);
  });

  it('allows legal transitions and returns the new state', () => {
    expect(transition(WebhookMachine, 'active', 'paused')).toBe('paused');
    expect(transition(DeliveryMachine, 'retrying', 'in_flight')).toBe('in_flight');
    expect(canTransition(BulkJobMachine, 'failed', 'queued')).toBe(true);
  });

  it('refuses illegal transitions with a 409 that says what is allowed', () => {
    let error: unknown;
    try {
      transition(DeliveryMachine, 'success', 'retrying');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ status: 409, code: 'illegal_transition' });
    expect((error as AppError).message).toContain('success is terminal');

    expect(() => transition(WebhookMachine, 'active', 'active')).toThrow(/active -> active.*paused, disabled/);
    expect(() => transition(KpiAlertMachine, 'resolved', 'acknowledged')).toThrow(AppError);
    expect(transition(KpiAlertMachine, 'resolved', 'firing')).toBe('firing');
  });

  it('knows terminal states', () => {
    expect(isTerminal(DeliveryMachine, 'dead_letter')).toBe(true);
    expect(isTerminal(DeliveryMachine, 'retrying')).toBe(false);
    expect(isTerminal(BulkJobMachine, 'failed')).toBe(false);
  });
});

describe('named transitions', () => {
  it('fire() follows a name from a state, wherever it leads from there', () => {
    expect(fire(BulkJobMachine, 'failed', 'continue')).toBe('queued');
    expect(fire(BulkJobMachine, 'cancelled', 'continue')).toBe('queued');
    expect(fire(BulkJobMachine, 'running', 'complete_with_errors')).toBe('completed_with_errors');
    expect(fire(DeliveryMachine, 'retrying', 'start')).toBe('in_flight');
  });

  it('fire() refuses a name the state does not allow, with a 409 naming what it allows', () => {
    const error = (() => {
      try {
        fire(BulkJobMachine, 'completed', 'continue');
      } catch (e) {
        return e as AppError;
      }
      throw new Error('no error');
    })();
    expect(error.status).toBe(409);
    expect(error.code).toBe(ErrorCode.IllegalTransition);
    expect(error.message).toBe(
      'Cannot continue a bulk_job that is completed: only one that is failed or cancelled; from completed it may expire',
    );
    expect(error.details?.[0]).toEqual({
      field: 'status',
      message: 'cannot continue from completed',
      machine: 'bulk_job',
      from: 'completed',
      to: 'queued',
      allowed: ['expired'],
    });
    expect(canFire(BulkJobMachine, 'completed', 'continue')).toBe(false);
    expect(canFire(BulkJobMachine, 'failed', 'continue')).toBe(true);
  });

  it('derives state lists from the machines', () => {
    expect(sourcesOf(BulkJobMachine, 'cancel')).toEqual(['awaiting_upload', 'queued', 'running', 'failed']);
    expect(terminalStates(DeliveryMachine)).toEqual(['success', 'failed', 'dead_letter']);
    expect(sqlStates(terminalStates(DeliveryMachine))).toBe(`'success', 'failed', 'dead_letter'`);
    expect(() => sqlStates(["x'; drop table t; --"])).toThrow('not a state name');
    expect(transitionBetween(WebhookMachine, 'paused', 'active')).toBe('resume');
    expect(transitionBetween(WebhookMachine, 'active', 'active')).toBeUndefined();
  });

  it('every transition has a name, unique per state it leaves', () => {
    for (const m of MACHINES) {
      const keys = m.transitions.map((t) => `${t.from}:${t.name}`);
      expect(new Set(keys).size).toBe(keys.length);
      for (const t of m.transitions) expect(t.name).toMatch(/^[a-z_]+$/);
    }
  });
});
