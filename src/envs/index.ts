/**
 * Public API of the environments of "SFT Memorizes, RL Generalizes" (arXiv 2501.17161): GeneralPoints (§4.1) and
 * the synthetic-city navigation task (§4.2), the multi-turn episode runner, and the evaluation harness.
 */
export * from "./episode.js";
export * from "./general-points/cards.js";
export * from "./general-points/formula.js";
export * from "./general-points/solver.js";
export * from "./general-points/prompt.js";
export * from "./general-points/parse.js";
export * from "./general-points/verifier.js";
export * from "./general-points/render.js";
export * from "./general-points/env.js";
export { buildCity, headingBetween, CITY_STYLES, type City, type CityNode, type CityStyle, type Landmark, type CityOptions } from "./navigation/city.js";
export * from "./navigation/route.js";
export * from "./navigation/prompt.js";
export { verifyNavigation, readField, NAV_REWARDS, type NavVerifyResult } from "./navigation/verifier.js";
export { renderView, renderViews, type ViewOptions } from "./navigation/render.js";
export * from "./navigation/env.js";
export * from "./eval.js";
export * from "./openai-client.js";
