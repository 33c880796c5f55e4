import { AppError, ErrorCode } from '@ipm/core';
import type { MachineDefinition } from './machines';

/** The states of a machine, as a union type. */
export type StateOf<M> = M extends MachineDefinition<infer S> ? S : never;

/** True when the machine allows `from -> to`. */
export function canTransition<M extends MachineDefinition>(machine: M, from: StateOf<M>, to: StateOf<M>): boolean {
  return machine.transitions.some((t) => t.from === from && t.to === to);
}

/**
 * The one way to change a record's state: returns `to`, or throws a 409 naming the machine,
 * both states and what `from` may go to. A move to the same state is illegal too, so that a
 * caller cannot mistake a no-op for a change.
 */
export function transition<M extends MachineDefinition>(machine: M, from: StateOf<M>, to: StateOf<M>): StateOf<M> {
  if (canTransition(machine, from, to)) return to;
  const allowed = machine.transitions.filter((t) => t.from === from).map((t) => t.to);
  throw AppError.conflict(
    `Illegal ${machine.name} transition ${from} -> ${to}` +
      (allowed.length ? `; from ${from} it may go to ${allowed.join(', ')}` : `; ${from} is terminal`),
    ErrorCode.IllegalTransition,
    [{ field: 'status', message: `cannot go from ${from} to ${to}`, machine: machine.name, from, to, allowed }],
  );
}

export function isTerminal<M extends MachineDefinition>(machine: M, state: StateOf<M>): boolean {
  return machine.states.some((s) => s.name === state && s.terminal === true);
}

export function initialState<M extends MachineDefinition>(machine: M): StateOf<M> {
  const initial = machine.states.find((s) => s.initial);
  if (!initial) throw new Error(`machine ${machine.name} has no initial state`);
  return initial.name as StateOf<M>;
}
