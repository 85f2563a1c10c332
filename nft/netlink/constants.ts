// Numbers from the kernel's uapi headers (linux/netfilter/nf_tables.h, nfnetlink.h, netlink.h)
// that the netlink encoder needs. Only what is used; names follow the headers.

export const NETLINK = {
  NLM_F_REQUEST: 0x1,
  NLM_F_ACK: 0x4,
  NLM_F_REPLACE: 0x100,
  NLM_F_EXCL: 0x200,
  NLM_F_CREATE: 0x400,
  NLM_F_APPEND: 0x800,
} as const;

export const NFNL_SUBSYS_NFTABLES = 10;
export const NFNL_MSG_BATCH_BEGIN = 0x10;
export const NFNL_MSG_BATCH_END = 0x11;

/** nf_tables message types (enum nf_tables_msg_types). */
export const NFT_MSG = {
  NEWTABLE: 0,
  DELTABLE: 2,
  NEWCHAIN: 3,
  DELCHAIN: 5,
  NEWRULE: 6,
  DELRULE: 8,
  NEWSET: 9,
  DELSET: 11,
  NEWSETELEM: 12,
  DELSETELEM: 14,
} as const;

/** The message type on the wire: subsystem in the high byte. */
export const nftMsgType = (msg: number) => (NFNL_SUBSYS_NFTABLES << 8) | msg;

/** nfproto values used as nfgenmsg.family. */
export const NFPROTO = { inet: 1, ip: 2, arp: 3, netdev: 5, bridge: 7, ip6: 10 } as const;

export const NFTA_CHAIN = { TABLE: 1, HANDLE: 2, NAME: 3, HOOK: 4, POLICY: 5, TYPE: 7 } as const;

export const NFTA_RULE = { TABLE: 1, CHAIN: 2, HANDLE: 3, EXPRESSIONS: 4, POSITION: 6, USERDATA: 7 } as const;

export const NFTA_LIST_ELEM = 1;
export const NFTA_EXPR = { NAME: 1, DATA: 2 } as const;

export const NFTA_SET_ELEM_LIST = { TABLE: 1, SET: 2, ELEMENTS: 3 } as const;
export const NFTA_SET_ELEM = {
  KEY: 1,
  DATA: 2,
  FLAGS: 3,
  TIMEOUT: 4,
  USERDATA: 6,
  KEY_END: 10,
} as const;

export const NFTA_DATA = { VALUE: 1, VERDICT: 2 } as const;
export const NFTA_VERDICT = { CODE: 1, CHAIN: 2 } as const;

/** Verdict codes (NF_DROP, NF_ACCEPT and the nf_tables ones), as unsigned 32-bit values. */
export const VERDICT_CODE = {
  drop: 0,
  accept: 1,
  continue: 0xffffffff, // NFT_CONTINUE = -1
  jump: 0xfffffffd, // NFT_JUMP = -3
  goto: 0xfffffffc, // NFT_GOTO = -4
  return: 0xfffffffb, // NFT_RETURN = -5
} as const;

/** NFTA_SET attributes. */
export const NFTA_SET = {
  NAME: 2,
  FLAGS: 3,
  KEY_TYPE: 4,
  KEY_LEN: 5,
  DATA_TYPE: 6,
  DATA_LEN: 7,
  DESC: 9,
  ID: 10,
  TIMEOUT: 11,
  USERDATA: 13,
} as const;
export const NFTA_SET_DESC = { SIZE: 1, CONCAT: 2 } as const;
/** Set flags (enum nft_set_flags); `eval` is nft's "dynamic". */
export const SET_F = {
  anonymous: 0x1,
  constant: 0x2,
  interval: 0x4,
  map: 0x8,
  timeout: 0x10,
  eval: 0x20,
  concat: 0x80,
} as const;
/** NFT_DATA_VERDICT: a map's data type when its values are verdicts. */
export const NFT_DATA_VERDICT = 0xffffff00;
/** NFT_SET_ELEM_INTERVAL_END: the element that ends a range. */
export const ELEM_INTERVAL_END = 0x1;

/** nftnl set user-data TLV types (libnftnl/udata.h NFTNL_UDATA_SET_*). */
export const UDATA_SET = {
  keyByteorder: 0,
  dataByteorder: 1,
  mergeElements: 2,
  keyTypeof: 3,
  dataTypeof: 4,
  dataInterval: 6,
  comment: 7,
} as const;
/** nftnl element user data: flags, with "interval open" (a range that runs to the end of the key space). */
export const UDATA_ELEM_FLAGS = 1;
export const ELEM_F_INTERVAL_OPEN = 1;
/** nft's byte order of a value, as stored in a set's user data. */
export const BYTEORDER = { invalid: 0, host: 1, big: 2 } as const;
