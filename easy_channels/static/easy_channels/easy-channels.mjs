/*!
 * easy-channels.mjs: the ES module face of easy-channels.js (see the comment at its top).
 *
 *   import { connect } from "/static/easy_channels/easy-channels.mjs";
 *   const socket = connect("/ws/chat/ana/");
 *
 * A classic script can't contain `export`, so the implementation lives in easy-channels.js,
 * which is written to run as a module too: importing it here runs it once, it defines
 * globalThis.EasyChannels, and this module re-exports that object's members. As a side effect
 * the global `EasyChannels` exists after the import too.
 */
import "./easy-channels.js";

const EasyChannels = globalThis.EasyChannels;

export const { connect, EasyChannelsSocket, EasyChannelsError, defaults, version } = EasyChannels;
export default EasyChannels;
