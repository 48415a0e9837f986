// axios publishes its CommonJS build for Node as a subpath export without a
// declaration of its own; it is the same API as the package's main entry.
declare module 'axios/dist/node/axios.cjs' {
  import axios from 'axios';

  export default axios;
}
