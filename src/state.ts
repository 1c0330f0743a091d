// The SQLite state file lives in state/; this facade keeps the imports of `./state.js` working.
export * from './state/index.js'
