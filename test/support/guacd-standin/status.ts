/** Guacamole protocol status codes the stand-in uses (values from the protocol reference). */
export const Status = {
  SUCCESS: 0,
  SERVER_ERROR: 512,
  UPSTREAM_TIMEOUT: 514,
  UPSTREAM_ERROR: 515,
  RESOURCE_NOT_FOUND: 516,
  UPSTREAM_NOT_FOUND: 519,
  UPSTREAM_UNAVAILABLE: 520,
  CLIENT_BAD_REQUEST: 768,
  CLIENT_UNAUTHORIZED: 769,
  CLIENT_TIMEOUT: 776,
} as const;
