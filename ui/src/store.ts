// A tiny store around the pure reducer, and the Preact hooks that read it.

import { useEffect, useState } from 'preact/hooks';

import { type Action, type AppState, initialState, reduce } from './model/session';

export interface Store {
  get(): AppState;
  dispatch(a: Action): void;
  subscribe(l: () => void): () => void;
}

export function createStore(state: AppState = initialState()): Store {
  const listeners = new Set<() => void>();
  return {
    get: () => state,
    dispatch(a) {
      const next = reduce(state, a);
      if (next !== state) {
        state = next;
        listeners.forEach((l) => l());
      }
    },
    subscribe(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
}

export function useStore(store: Store): AppState {
  const [s, set] = useState(store.get());
  useEffect(() => {
    set(store.get());
    return store.subscribe(() => set(store.get()));
  }, [store]);
  return s;
}

/** The wall clock, refreshed every `ms` while `active` (for countdowns). */
export function useNow(ms: number, active = true): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const id = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(id);
  }, [ms, active]);
  return now;
}
