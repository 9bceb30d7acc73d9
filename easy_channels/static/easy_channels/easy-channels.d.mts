// Types of easy-channels.mjs: the API of easy-channels.js (see easy-channels.d.ts), as named
// exports, and the whole of it as the default export.
export * from "./easy-channels.js";
import * as EasyChannels from "./easy-channels.js";
export default EasyChannels;
