// Nest's webpack defaults (nest-cli.json) for the api and the worker, plus one more entry: the schema validation
// thread (libs/catalog/src/validation/validation.thread.ts), emitted beside main.js as schema-validation.thread.js,
// where SchemaValidationPool looks for it.
const path = require('node:path');

module.exports = (options) => ({
  ...options,
  entry: {
    main: options.entry,
    'schema-validation.thread': path.resolve(__dirname, 'libs/catalog/src/validation/validation.thread.ts'),
  },
  output: {
    ...options.output,
    filename: path.posix.join(path.posix.dirname(options.output.filename), '[name].js'),
  },
});
