// Test data is made with the product's seeded PRNG, so a failure can be reproduced from its seed.
export { mulberry32 as prng } from '../../src/prng.js'
