// Waiting in many loops on one AbortSignal: timers/promises' setTimeout adds one abort listener per wait, and
// adding a listener scans the signal's others (hundreds of table loops in watch mode make each cycle quadratic).
// Here each signal gets one listener that wakes every wait on it.

const waiters = new WeakMap<AbortSignal, Set<() => void>>()

/** Resolves after `ms`, or at once when `signal` aborts (never rejects: callers check `signal.aborted`). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  let set = waiters.get(signal)
  if (!set) {
    const all = new Set<() => void>()
    waiters.set(signal, (set = all))
    signal.addEventListener(
      'abort',
      () => {
        for (const wake of [...all]) wake()
      },
      { once: true },
    )
  }
  const wakers = set
  return new Promise((resolve) => {
    const wake = (): void => {
      clearTimeout(timer)
      wakers.delete(wake)
      resolve()
    }
    const timer = setTimeout(wake, ms)
    wakers.add(wake)
  })
}
