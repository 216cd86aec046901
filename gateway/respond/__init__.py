"""The respond step: what the gateway tells a party is signed, and sealed to its key (`answers`)."""
