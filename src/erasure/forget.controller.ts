import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { BadRequestException, Controller, HttpCode, Inject, Param, Post, UseGuards } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { AdminTokenGuard } from '../http/admin-token.guard';
import { isKeyType, KEY_TYPES, normaliseKeyValue, type PhoneRegion } from '../profile';
import { ContactErasure } from './contact-erasure.service';

/** `POST /admin/contacts/:keyType/:keyValue/forget` (DESIGN §4.6): erase one person everywhere the service keeps data. */
@Controller('admin')
@ApiTags('admin')
@ApiBearerAuth('admin-token')
@UseGuards(AdminTokenGuard)
export class ForgetController {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly erasure: ContactErasure,
  ) {}

  /** 200 with what was removed; `complete: false` names what waits (an open import batch, a running export). */
  @Post('contacts/:keyType/:keyValue/forget')
  @HttpCode(200)
  async forget(@Param('keyType') keyType: string, @Param('keyValue') rawKeyValue: string) {
    if (!isKeyType(keyType)) throw new BadRequestException(`keyType must be one of ${KEY_TYPES.join(', ')}`);
    const normalised = normaliseKeyValue(keyType, rawKeyValue, this.config.defaultPhoneRegion as PhoneRegion);
    if (!normalised.ok) throw new BadRequestException(`${keyType} ${normalised.reason}`);
    const report = await this.erasure.forget(keyType, normalised.value);
    return {
      keys: report.keys.map((key) => ({ key_type: key.keyType, key_value: key.keyValue })),
      contact_ids: report.contactIds,
      removed: report.removed,
      export_topic_tombstones: report.tombstones,
      open_import_batches: report.openBatches,
      export_running: report.exportRunning,
      complete: report.complete,
      not_reached: 'CAAC itself (erase the person there too, or the next export brings them back), the dead-letter and source topics (their own retention), backups',
    };
  }
}
