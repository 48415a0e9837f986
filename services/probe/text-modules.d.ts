// The bundler inlines these files as strings (services/build.ts: loader `text`).
declare module '*.sh' {
  const text: string;
  export default text;
}
