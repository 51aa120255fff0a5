import { describe, expect, it } from "vitest";
import { cpuLabel } from "./run-dir.js";

describe("machine info", () => {
  it("adds the first processor's family and model to a bare CPU name, so machine kinds can be told apart", () => {
    const zen5 = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\nmodel name\t: AMD EPYC\n\nprocessor\t: 1\ncpu family\t: 25\nmodel\t\t: 17\n";
    expect(cpuLabel("AMD EPYC", zen5)).toBe("AMD EPYC (family 26, model 2)");
    // "model name" is not the model number; without the numbers (not Linux, or a VM hiding them) the bare name stays.
    expect(cpuLabel("AMD EPYC", "model name\t: AMD EPYC\n")).toBe("AMD EPYC");
    expect(cpuLabel("Apple M2", "")).toBe("Apple M2");
  });
});
