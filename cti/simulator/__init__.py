"""The simulated Asterisk PBX (AMI over TCP or in-process) for the demo and the tests."""
