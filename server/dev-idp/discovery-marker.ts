/**
 * The development IdP puts this in its discovery document; a production gateway that finds it
 * refuses to start. Its own file so the gateway can check it without loading the dev IdP.
 */
export const DEV_IDP_DISCOVERY_MARKER = 'x_drawbridge_development_idp';
