import { z } from '@hono/zod-openapi'
import { ROLES } from './access.ts'

const usernameSchema = z
  .string()
  .regex(/^[A-Za-z0-9._@-]{3,64}$/, {
    error: 'Use 3 to 64 letters, digits and . _ @ -',
  })
  .openapi({ example: 'a.jansen' })

/** At least 12 characters, because sign-in has no second factor, and at most 256. */
const passwordSchema = z
  .string()
  .min(12)
  .max(256)
  .openapi({ example: 'correct horse battery staple' })

const rolesSchema = z
  .array(z.enum(ROLES))
  .min(1)
  .max(ROLES.length)
  .openapi({ example: ['clinician'] })

export const loginSchema = z
  .strictObject({
    username: z.string().min(1).max(64),
    password: z.string().min(1).max(256),
  })
  .openapi('LoginRequest')

export const tokenSchema = z
  .object({
    access_token: z.string(),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int().openapi({ description: 'Seconds until the token expires' }),
    roles: z.array(z.string()),
  })
  .openapi('AccessToken')

export const principalSchema = z
  .object({
    id: z.string().openapi({ description: 'User id, or issuer#subject for an external token' }),
    roles: z.array(z.string()),
  })
  .openapi('Principal')

export const userSchema = z
  .object({
    id: z.uuid(),
    username: z.string(),
    roles: z.array(z.string()),
    disabled: z.boolean(),
    createdAt: z.string(),
    updatedAt: z.string(),
    createdBy: z.string(),
  })
  .openapi('User')

/** Maximum number of user ids in one `GET /users/names` request. */
export const MAX_USER_NAME_IDS = 100

// The query validator passes one `id` as a string and a repeated `id` as an array, so a single
// value is wrapped to give the handler an array either way.
export const userNamesQuerySchema = z.strictObject({
  id: z
    .preprocess(
      (value) => (typeof value === 'string' ? [value] : value),
      z.array(z.uuid()).min(1).max(MAX_USER_NAME_IDS),
    )
    .openapi({
      param: { name: 'id', in: 'query', style: 'form', explode: true },
      description: `User ids, repeated as \`id=…&id=…\`, at most ${String(MAX_USER_NAME_IDS)}`,
      example: ['5f0c6f0e-7d55-4a5e-9b1b-1c6f4f1f2a3b'],
    }),
})

export const userNameSchema = z
  .object({
    id: z.uuid().openapi({ example: '5f0c6f0e-7d55-4a5e-9b1b-1c6f4f1f2a3b' }),
    username: z.string().openapi({ example: 'a.jansen' }),
  })
  .openapi('UserName')

export const createUserSchema = z
  .strictObject({ username: usernameSchema, password: passwordSchema, roles: rolesSchema })
  .openapi('CreateUser')

export const updateUserSchema = z
  .strictObject({
    roles: rolesSchema.optional(),
    disabled: z.boolean().optional(),
    password: passwordSchema.optional(),
  })
  .refine((body) => Object.keys(body).length > 0, { error: 'Change at least one field' })
  .openapi('UpdateUser')

export const changePasswordSchema = z
  .strictObject({
    currentPassword: z.string().min(1).max(256),
    newPassword: passwordSchema,
  })
  .openapi('ChangePassword')
