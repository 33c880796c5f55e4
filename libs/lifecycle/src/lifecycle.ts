import { AppError, ErrorCode } from '@ipm/core';
import type { MachineDefinition } from './machines';

/** The states of a machine, as a union type. */
export type StateOf<M> = M extends MachineDefinition<infer S> ? S : never;

/** The names of a machine's transitions, as a union type. */
export type TransitionOf<M> = M extends MachineDefinition<string, infer T> ? T : never;

/**
 * The one way to move a record along a named transition: returns the state `name` leads to from
 * `from`, or throws a 409 naming the machine, the transition, the state and the transitions `from`
 * allows.
 */
export function fire<M extends MachineDefinition>(machine: M, from: StateOf<M>, name: TransitionOf<M>): StateOf<M> {
  const found = machine.transitions.find((t) => t.name === name && t.from === from);
  if (found) return found.to as StateOf<M>;
  const leaving = machine.transitions.filter((t) => t.from === from);
  const sources = sourcesOf(machine, name);
  // Details in the API's error-detail shape (ErrorDetailDto), as transition() gives them: the state
  // the name leads to, and the states `from` may go to.
  const to = machine.transitions.find((t) => t.name === name)?.to;
  throw AppError.conflict(
    `Cannot ${name} a ${machine.name} that is ${from}` +
      (sources.length ? `: only one that is ${sources.join(' or ')}` : '') +
      (leaving.length
        ? `; from ${from} it may ${[...new Set(leaving.map((t) => t.name))].join(', ')}`
        : `; ${from} is terminal`),
    ErrorCode.IllegalTransition,
    [
      {
        field: 'status',
        message: `cannot ${name} from ${from}`,
        machine: machine.name,
        from,
        ...(to ? { to } : {}),
        allowed: leaving.map((t) => t.to),
      },
    ],
  );
}

/** True when `name` leads somewhere from `from`. */
export function canFire<M extends MachineDefinition>(machine: M, from: StateOf<M>, name: TransitionOf<M>): boolean {
  return machine.transitions.some((t) => t.name === name && t.from === from);
}

/** The states a named transition may leave, in the machine's order (for SQL guards and messages). */
export function sourcesOf<M extends MachineDefinition>(machine: M, name: TransitionOf<M>): Array<StateOf<M>> {
  const from = new Set(machine.transitions.filter((t) => t.name === name).map((t) => t.from));
  return machine.states.filter((s) => from.has(s.name)).map((s) => s.name as StateOf<M>);
}

/** The name of the transition `from -> to`, if the machine has one. */
export function transitionBetween<M extends MachineDefinition>(
  machine: M,
  from: StateOf<M>,
  to: StateOf<M>,
): TransitionOf<M> | undefined {
  return machine.transitions.find((t) => t.from === from && t.to === to)?.name as TransitionOf<M> | undefined;
}

/** The machine's states that satisfy `keep`, in the machine's order (`terminal`, `initial`, …). */
export function statesWhere<M extends MachineDefinition>(
  machine: M,
  keep: (state: M['states'][number]) => boolean,
): Array<StateOf<M>> {
  return machine.states.filter(keep).map((s) => s.name as StateOf<M>);
}

/** The terminal states: where a record's story ends. */
export function terminalStates<M extends MachineDefinition>(machine: M): Array<StateOf<M>> {
  return statesWhere(machine, (s) => s.terminal === true);
}

/**
 * States as a SQL list literal (`'success', 'failed'`), for a statement's `IN (...)`. The names come
 * from the machines (lower-case identifiers, checked here), never from a request.
 */
export function sqlStates(states: readonly string[]): string {
  for (const s of states) if (!/^[a-z_]+$/.test(s)) throw new Error(`not a state name: ${s}`);
  return states.map((s) => `'${s}'`).join(', ');
}

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
