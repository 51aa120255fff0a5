export * from "./adamw.js";
export * from "./schedule.js";
