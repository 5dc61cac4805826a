"""Second factors of sign-in (multi-factor authentication): what a user has enrolled (`repository`), authenticator
apps (`totp`, RFC 6238), recovery codes (`recovery`), the assurance levels they reach (`assurance`, RFC 8176 and
OIDC Core 2's `amr` and `acr`), and the second-factor step of a sign-in (`step`)."""
