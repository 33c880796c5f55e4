// ESLint 10 reads flat config only (see ../shared/TOOLCHAIN.md): this is the project's one ESLint config.
import js from '@eslint/js';
import boundaries from 'eslint-plugin-boundaries';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

/**
 * The libs, lowest first: a lib may import the libs of the layers below its own, through their
 * `index.ts` only (`@ipm/<lib>`), and nothing beside or above it. Apps, tests and benchmarks sit
 * on top and see every lib, through its index too. docs/architecture.md draws this map.
 */
const LAYERS = [
  ['core'],
  ['persistence', 'redis'],
  ['queues', 'auth'],
  ['audit', 'lifecycle', 'catalog'],
  ['events'],
  ['apikeys', 'catalog-api', 'health', 'kpis', 'webhooks'],
  ['bulk'],
];
const LIBS = LAYERS.flat();

/** TypeORM's EntityManager calls that read or write an entity's table. */
const ENTITY_API = [
  'find',
  'findBy',
  'findOne',
  'findOneBy',
  'findOneOrFail',
  'findAndCount',
  'count',
  'countBy',
  'exists',
  'existsBy',
  'insert',
  'update',
  'delete',
  'save',
  'remove',
  'upsert',
  'softDelete',
  'increment',
  'decrement',
  'createQueryBuilder',
  'getRepository',
  'sum',
  'maximum',
  'minimum',
];

/** The boundaries/dependencies options: LAYERS as policies, plus `extra`. */
function dependencyRule(...extra) {
  const lower = (i) => LAYERS.slice(0, i).flat();
  const throughIndex = (libs) => ({ element: { type: 'lib', captured: { lib: libs }, fileInternalPath: 'index.ts' } });
  return {
    default: 'disallow',
    message: 'Import a lib below this one, through its index (@ipm/<lib>): see LAYERS in eslint.config.mjs',
    policies: [
      ...LAYERS.flatMap((layer, i) =>
        layer.map((lib) => ({
          from: { element: { type: 'lib', captured: { lib } } },
          allow: { to: throughIndex(lower(i)) },
        })),
      ),
      { from: { element: { type: 'top' } }, allow: { to: throughIndex(LIBS) } },
      { from: { element: { type: 'top' } }, allow: { to: { element: { type: 'top' } } } },
      ...extra,
    ],
  };
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  {
    // The walls between libs (LAYERS above).
    files: ['**/*.ts'],
    plugins: { boundaries },
    settings: {
      'import/resolver': { typescript: { project: './tsconfig.json' } },
      'boundaries/elements': [
        { type: 'lib', pattern: 'libs/*/src', capture: ['lib'] },
        { type: 'top', pattern: '(apps|test|bench|scripts)' },
      ],
    },
    rules: { 'boundaries/dependencies': ['error', dependencyRule()] },
  },
  {
    // Tenant-owned tables are read and written through a TenantRepository (libs/persistence), whose
    // every method takes the scope: TypeORM's entity API and injected repositories stay inside
    // repositories (*.repository.ts) and the persistence lib.
    files: ['libs/**/*.ts', 'apps/**/*.ts'],
    ignores: ['**/*.repository.ts', 'libs/persistence/**', '**/*.spec.ts', '**/*.int-spec.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: `CallExpression[callee.property.name=/^(${ENTITY_API.join('|')})$/] > Identifier.arguments:first-child[name=/Entity$/]`,
          message: 'Tenant-owned rows go through a TenantRepository (*.repository.ts), whose methods take the scope.',
        },
        {
          selector: "Decorator > CallExpression[callee.name='InjectRepository']",
          message: 'Inject the feature’s TenantRepository (*.repository.ts) instead of a bare TypeORM repository.',
        },
      ],
    },
  },
  {
    // Jest loads its global setup and teardown with plain require, outside its module map (no
    // @ipm/* names), and a lib's index would load all of Nest: these two reach the files they need.
    files: ['test/support/global-setup.ts', 'test/support/global-teardown.ts'],
    rules: { 'boundaries/dependencies': 'off' },
  },
  {
    // Unit specs beside a lib's code may use the shared test fixtures (test/support).
    files: ['libs/**/*.spec.ts'],
    rules: {
      'boundaries/dependencies': [
        'error',
        dependencyRule({ from: { element: { type: 'lib' } }, allow: { to: { element: { type: 'top' } } } }),
      ],
    },
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: './tsconfig.eslint.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/explicit-function-return-type': [
        'error',
        { allowExpressions: true, allowTypedFunctionExpressions: true },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/unbound-method': 'off',
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Read configuration through AppConfig (libs/core/src/config).' },
      ],
    },
  },
  {
    // The config loader and the process entry points are where the environment is handed over.
    files: [
      'libs/core/src/config/**',
      'apps/*/src/main.ts',
      'apps/api/src/bootstrap.ts',
      'apps/worker/src/bootstrap.ts',
      'apps/cli/src/**',
      'scripts/**',
      'test/**',
      'bench/**',
      '**/*.spec.ts',
    ],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    files: ['**/*.spec.ts', '**/*.e2e-spec.ts', '**/*.int-spec.ts', 'test/**'],
    rules: {
      '@typescript-eslint/explicit-function-return-type': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      globals: {
        require: 'readonly',
        module: 'writable',
        process: 'readonly',
        console: 'readonly',
        __dirname: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/explicit-function-return-type': 'off',
    },
  },
  prettier,
);
