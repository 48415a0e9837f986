// Lint for every TypeScript file of the project: ESLint's and
// typescript-eslint's recommended rules with type information (floating and
// misused promises, unsafe `any` flows, needless assertions) and one import
// order. Formatting is
// Prettier's (.prettierrc.json), not ESLint's.
import js from '@eslint/js';
import simpleImportSort from 'eslint-plugin-simple-import-sort';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'cdktf.out/', '.state/', 'bench/results/', 'bench/tmp/', 'services/**/dist/', '.gen/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'simple-import-sort': simpleImportSort },
    rules: {
      // One import order everywhere (packages, then the project's modules by path); `eslint --fix` applies it.
      'simple-import-sort/imports': 'error',
      'simple-import-sort/exports': 'error',
      // `_` names a value a destructuring or a signature must take but the code does not use.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  {
    // Tests read JSON answers (admin /stats, reports, state files) and assert
    // on their fields: a wrong field fails the assertion, so `any` flowing
    // from JSON.parse or res.json() is allowed there and only there.
    files: ['test/**/*.ts'],
    rules: {
      // Fakes implement async interfaces without awaiting anything.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      // Tests feed control characters to the code that must neutralise them.
      'no-control-regex': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' } },
  },
);
