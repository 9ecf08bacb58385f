package takeover

// Adopter is adopter, for tests.
var Adopter = adopter
